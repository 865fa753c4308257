"""The recommendation rules: small pure functions from measurements to a recommended change
(with evidence, risk and projected monthly savings) or a finding that says why nothing changes.

Every rule keeps what it cannot prove unused: missing metrics mean "kept", never "idle".
"""
