"""What a tag or a stack finds, classified on literal ARNs: one platform, or a refusal naming the flag."""

from __future__ import annotations

from tap_optimizer.adoption.live import Found, refusal, tagged_found

ACCOUNT = "arn:aws:{}:us-east-1:123456789012:{}"
DEV = [(ACCOUNT.format("rds", "cluster:tap-dev-aurora"), {}), (ACCOUNT.format("dynamodb", "table/tap-dev-users"), {}),
       (ACCOUNT.format("ec2", "instance/i-0a"), {"aws:autoscaling:groupName": "tap-dev-asg"}),
       (ACCOUNT.format("ec2", "instance/i-0b"), {"aws:autoscaling:groupName": "tap-dev-asg"})]
PROD = [(ACCOUNT.format("rds", "cluster:tap-prod-aurora"), {}),
        (ACCOUNT.format("ec2", "instance/i-1a"), {"aws:autoscaling:groupName": "tap-prod-asg"})]


def test_a_tag_on_one_platform_finds_it():
    found = tagged_found("us-east-1", DEV)
    assert found.ids == {"cluster": "tap-dev-aurora", "asg": "tap-dev-asg"} and found.tables == ["tap-dev-users"]
    assert refusal(found, "--tag Platform=TAP") is None


def test_a_tag_on_two_platforms_is_refused_naming_both_never_one_adopted_at_random():
    assert refusal(tagged_found("us-east-1", [*DEV, *PROD]), "--tag Platform=TAP") == (
        "--tag Platform=TAP: it is on more than one platform in us-east-1 (Auto Scaling groups tap-dev-asg, "
        "tap-prod-asg; Aurora clusters tap-dev-aurora, tap-prod-aurora); give a tag only one platform's resources "
        "carry, or --stack")


def test_a_region_without_the_platform_is_refused_not_imported_as_the_xrd_defaults():
    message = refusal(Found("ap-southeast-1"), "--stack TapStackdev")
    assert message is not None and message.startswith("--stack TapStackdev: found no DynamoDB table, Redis")
    assert "in ap-southeast-1 (the first of --regions" in message


def test_a_target_group_not_taken_over_is_reported_never_dropped():
    elb = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/{}/73e2d6bc24d8a067"
    found = tagged_found("us-east-1", [(elb.format(name), {}) for name in (
        "tap-dev-api-tg", "tap-dev-admin-tg", "TapSt-TapAp-1X2Y3Z", "tap-dev-api-canary")])
    assert found.target_groups == {"api": elb.format("tap-dev-api-tg"), "admin": elb.format("tap-dev-admin-tg")}
    assert [physical for _, _, physical in found.others] == [elb.format("TapSt-TapAp-1X2Y3Z"),
                                                           elb.format("tap-dev-api-canary")]
