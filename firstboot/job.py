"""One run of the agent on one deploy: the world it acts on and the state it owns (never None), with
the proof files of that deploy. Every step receives the job."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from firstboot.core import Agent
from firstboot.gates import GateResult, HttpResult
from firstboot.phases import Step
from firstboot.proof import DEPLOY_STATUS, STATUS, build_deploy_status, build_status
from firstboot.state import Attempt, State, atomic_write, save_state


@dataclass
class Job:
    agent: Agent
    state: State
    # verify's failing gates with their responses, for decide's diagnostics (this run only)
    failing_responses: list[tuple[GateResult, HttpResult | None]] = field(default_factory=list)

    def attempt(self, step: Step) -> Attempt:
        return self.state.attempts[step.attempt or 0]

    # --- proofs -------------------------------------------------------------------------------------
    @property
    def proof_dir(self) -> Path:
        return self.agent.layout.proof_dir(self.state.deploy_id)

    def write_proof(self, name: str, text: str) -> Path:
        path = self.proof_dir / name
        atomic_write(path, self.agent.redact(text), mode=0o600)
        return path

    def append_proof(self, name: str, text: str) -> None:
        path = self.proof_dir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a") as f:
            f.write(self.agent.redact(text))

    def write_deploy_status(self, finished_at: str | None = None) -> dict[str, Any]:
        """`finished_at`: keep the deploy's own end (a later DNS retry rewrites the proof, not the deploy)."""
        doc = build_deploy_status(self.state, self.agent.deploy, self.agent.clock.now(),
                                  edge_base=self.agent.edge_base, proof_dir=str(self.proof_dir))
        if finished_at:
            doc["finished_at"] = finished_at
        self.write_proof(DEPLOY_STATUS, json.dumps(doc, indent=2) + "\n")
        return doc

    def save(self) -> None:
        """state.json, and status.json beside the proofs (the live view)."""
        save_state(self.agent.layout.state_json, self.state)
        self.write_proof(STATUS, json.dumps(build_status(self.state, self.agent.clock.now()), indent=2) + "\n")
