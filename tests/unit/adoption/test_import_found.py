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
