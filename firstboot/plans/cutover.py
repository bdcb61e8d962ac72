"""Whether (and why) to take the reserved IP and the DNS record. Never moves traffic to a droplet whose
gates did not pass."""

from __future__ import annotations

from dataclasses import dataclass

CUTOVER_STATUSES = ("success", "rolled_back")
NOTHING_TO_MOVE = "no reserved IP and no DNS record configured: nothing to cut over"


@dataclass(frozen=True)
class CutoverStart:
    """Before anything is asked of the metadata service or the API."""

    lookup: bool  # go on: find this droplet, the reserved IP and its holder
    reason: str
    record_last_good: bool = False


def plan_cutover_start(*, status: str | None, user_data: bool, reserved_ip_wanted: bool,
                       dns_wanted: bool) -> CutoverStart:
    if not user_data or status not in CUTOVER_STATUSES:
        plan = plan_cutover(status=status, user_data=user_data, reserved_ip=None, holder=None, droplet_id=None,
                            dns_wanted=dns_wanted)
        return CutoverStart(False, plan.reason)
    if not reserved_ip_wanted and not dns_wanted:
        # Nothing to move: no need to ask the metadata service or the API anything.
        return CutoverStart(False, NOTHING_TO_MOVE, record_last_good=status == "success")
    return CutoverStart(True, "")


@dataclass(frozen=True)
class CutoverPlan:
    assign_ip: bool
    set_dns: bool
    reason: str
    held: bool = False  # this droplet holds the reserved IP already
    retry_certificate: bool = False  # right after taking the IP: the name now reaches this droplet

    @property
    def serves_ip(self) -> bool:
        """The reserved IP points here once the plan is carried out."""
        return self.assign_ip or self.held


def plan_cutover(
    *,
    status: str | None,
    user_data: bool,
    reserved_ip: str | None,
    holder: int | None,
    droplet_id: int | None,
    dns_wanted: bool,
    has_letsencrypt: bool = False,
) -> CutoverPlan:
    """`holder`: the droplet id the reserved IP is assigned to now (None: unassigned)."""
    if not user_data:
        return CutoverPlan(False, False, "no user-data: running on the snapshot's defaults, no cutover")
    if status not in CUTOVER_STATUSES:
        return CutoverPlan(False, False, f"status {status}: gates did not pass, traffic stays where it is")
    if reserved_ip is None:
        return CutoverPlan(False, dns_wanted, "no reserved IP configured" + (
            "; DNS points at this droplet's own address" if dns_wanted else ""))
    if holder is not None and holder == droplet_id:
        return CutoverPlan(False, dns_wanted, f"{reserved_ip} is already assigned to this droplet", held=True)
    if status == "rolled_back":
        if holder is None:
            return CutoverPlan(True, dns_wanted,
                               f"rolled back, but {reserved_ip} is unassigned (nothing else serves): taking it",
                               retry_certificate=not has_letsencrypt)
        return CutoverPlan(False, False,
                           f"rolled back to the prior tag; {reserved_ip} stays on droplet {holder}")
    return CutoverPlan(True, dns_wanted, f"every gate passed: assigning {reserved_ip} to droplet {droplet_id}"
                       + (f" (from {holder})" if holder else ""), retry_certificate=not has_letsencrypt)


def records_last_good(plan: CutoverPlan, *, status: str | None, reserved_ip: str | None) -> bool:
    """state/last_good.json names this droplet when it serves the reserved IP, or when it succeeded and
    there is no reserved IP to serve."""
    return plan.serves_ip or (status == "success" and not reserved_ip)
