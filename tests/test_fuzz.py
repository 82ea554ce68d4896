"""Fuzz `spikex` in-process (tests/fuzz_cli.py): 500 seeded cases over arch specs, networks,
statistics files and command-line values. Every case exits 0 with a valid result or 2 with
a message and no output; none raises out of main (a traceback) or runs past its watchdog."""

from fuzz_cli import Campaign

CASES = 500


def test_fuzz_cli(tmp_path):
    campaign = Campaign(tmp_path, seed=16, timeout_s=30.0)
    assert campaign.run(CASES) == CASES
    outcomes = {o for _, o in campaign.counts}
    assert not campaign.failures, campaign.report()
    assert outcomes == {"ok", "refused"}, campaign.report()  # both paths exercised
    kinds = {k for k, _ in campaign.counts}
    assert kinds == {"cli", "network", "network-text", "stats", "arch", "out", "cosearch"}, campaign.report()
