"""`odoo-droplet doctor`'s pure core (issue 14): read everything, change nothing, name the probable cause.

The shell (the SSH channel and the CLI command, wired later) does three things with it:

    outputs = {cmd.name: run_over_ssh(cmd) for cmd in commands_for(target)}   # read-only commands, as data
    facts = parse_all(outputs, target=target, now=utc_now, edge=probe_edge())  # typed facts
    report = diagnose(facts)                                                   # checks + the cause first
    print(render_text(report)); sys.exit(report.exit_code)                     # or report.to_json()

Modules: target (what is looked at), commands (what runs, and the read-only rule), facts (typed facts),
parse_docker / parse_host / parse_nginx / parse_odoo (outputs -> facts), classify (log lines -> kinds),
gather (all outputs -> DoctorFacts), signals (shared predicates and thresholds), checks (the table),
causes (cause ids, their precedence and fixes), diagnose, report (JSON, text, exit status).
"""

from builder.doctor.commands import Command, commands_for, write_risks
from builder.doctor.diagnose import diagnose
from builder.doctor.facts import CommandOutput, DoctorFacts, EdgeFacts
from builder.doctor.gather import parse_all
from builder.doctor.report import DoctorReport, render_text
from builder.doctor.target import DoctorTarget

__all__ = [
    "Command", "CommandOutput", "DoctorFacts", "DoctorReport", "DoctorTarget", "EdgeFacts", "commands_for",
    "diagnose", "parse_all", "render_text", "write_risks",
]
