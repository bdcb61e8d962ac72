"""The pure decisions of firstboot/phases.py: which step is next, decide after verify, the prior tag,
and whether (and why) to cut over."""

from __future__ import annotations

from firstboot.phases import Step, choose_prior_tag, decide, next_step
from firstboot.plans.cutover import plan_cutover
from firstboot.state import Attempt, State


def st(**kw) -> State:
    return State(deploy_id="deploy-20261127-030000", started_at="2026-11-27T03:00:00Z", user_data=True, **kw)


def steps_until_end(s: State, outcome: dict[int, bool]) -> list[str]:
    """Walk the sequence, completing each step as the agent would; `outcome`: attempt -> gates passed."""
    seen = []
    for _ in range(40):
        step = next_step(s)
        if step is None:
            return seen
        seen.append(step.key)
        if step.name == "preflight":
            s.done.append("preflight")
            s.attempts = [Attempt(tag="new")]
        elif step.name == "decide":
            att = s.attempts[step.attempt]
            d = decide(s, step.attempt)
            s.done.append(step.done_key)
            if d.rollback_to:
                s.attempts.append(Attempt(tag=d.rollback_to))
            else:
                s.status = d.status
            del att
        elif step.name in ("publish", "cutover", "finalize"):
            s.done.append(step.name)
        else:
            att = s.attempts[step.attempt]
            att.done.append(step.name)
            if step.name == "verify":
                att.passed = outcome[step.attempt]
    raise AssertionError("did not finish")


def test_happy_sequence():
    s = st(prior_tag="old", prior_source="baked")
    assert steps_until_end(s, {0: True}) == [
        "preflight", "configure", "start-data", "restore", "install", "start-app", "verify", "decide",
        "publish", "cutover", "finalize"]
    assert s.status == "success"


def test_rollback_sequence():
    s = st(prior_tag="old", prior_source="baked")
    keys = steps_until_end(s, {0: False, 1: True})
    assert keys[7:] == ["decide", "rollback", "rollback:configure", "rollback:start-data", "rollback:restore",
                        "rollback:install", "rollback:start-app", "rollback:verify", "rollback:decide", "publish", "cutover",
                        "finalize"]
    assert s.status == "rolled_back" and [a.tag for a in s.attempts] == ["new", "old"]


def test_no_prior_tag_fails_without_rollback():
    s = st(prior_tag=None)
    keys = steps_until_end(s, {0: False})
    assert "rollback" not in keys and s.status == "failed"


def test_rollback_failing_too_is_failed_and_there_is_no_third_attempt():
    s = st(prior_tag="old", prior_source="baked")
    steps_until_end(s, {0: False, 1: False})
    assert s.status == "failed" and len(s.attempts) == 2


def test_resume_reenters_the_interrupted_step():
    s = st(done=["preflight"], attempts=[Attempt(tag="new", done=["configure", "start-data", "restore"])])
    assert next_step(s) == Step("install", 0)


def test_failed_attempt_skips_to_decide():
    s = st(done=["preflight"], attempts=[Attempt(tag="new", done=["configure", "start-data"],
                                                 failed="install: odoo -i exited 255")])
    assert next_step(s) == Step("decide", 0)


def test_fatal_preflight_goes_straight_to_publish():
    s = st(done=["preflight"], fatal="too small", attempts=[])
    assert next_step(s) == Step("publish")


def test_finished_is_none():
    s = st(done=["preflight", "decide:0", "publish", "cutover", "finalize"],
           attempts=[Attempt(tag="new", done=["configure", "start-data", "restore", "install", "start-app", "verify"])])
    assert next_step(s) is None


def test_decide_reasons():
    s = st(prior_tag="old", prior_source="deploy.odoo.prior_tag",
           attempts=[Attempt(tag="new", passed=False, gates=[{"name": "realtime_route", "passed": False}])])
    d = decide(s, 0)
    assert d.rollback_to == "old" and "realtime_route" in d.reason and "deploy.odoo.prior_tag" in d.reason
    s.attempts[0] = Attempt(tag="new", passed=False, failed="install: odoo -i exited 255")
    assert "exited 255" in decide(s, 0).reason
    s.prior_tag = "new"  # the same tag is no rollback
    assert decide(s, 0).status == "failed" and decide(s, 0).rollback_to is None


def test_prior_tag_order():
    assert choose_prior_tag("a", "b", "c", "x") == ("a", "state/last_good.json in Spaces")
    assert choose_prior_tag(None, "b", "c", "x") == ("b", "deploy.odoo.prior_tag")
    assert choose_prior_tag(None, None, "c", "x") == ("c", "the tag baked into the snapshot")
    # The tag being deployed is never its own prior (a re-deploy of the last good tag).
    assert choose_prior_tag("x", None, "c", "x") == ("c", "the tag baked into the snapshot")
    assert choose_prior_tag(None, None, None, "x") == (None, "none known")


def cut(**kw):
    base = dict(status="success", user_data=True, reserved_ip="127.0.0.100", holder=1, droplet_id=2,
                dns_wanted=True)
    return plan_cutover(**{**base, **kw})


def test_cutover_rules():
    p = cut()
    assert p.assign_ip and p.set_dns and "every gate passed" in p.reason
    assert not cut(status="failed").assign_ip and not cut(status="failed").set_dns
    assert not cut(status=None).assign_ip
    p = cut(user_data=False)
    assert not p.assign_ip and not p.set_dns and "no user-data" in p.reason
    p = cut(status="rolled_back", holder=1)
    assert not p.assign_ip and not p.set_dns and "stays on droplet 1" in p.reason
    p = cut(status="rolled_back", holder=None)
    assert p.assign_ip and "unassigned" in p.reason
    p = cut(holder=2)
    assert not p.assign_ip and p.set_dns and "already assigned" in p.reason
    p = cut(reserved_ip=None)
    assert not p.assign_ip and p.set_dns
