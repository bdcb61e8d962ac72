"""The first-boot agent and the pure renderers a droplet runs.

Runs on the droplet with Debian 12's python3 and its standard library only: nothing here may import
`builder/` or a third-party package, so the snapshot needs no pip.

How the agent is laid out (facts -> plan -> run -> record):
  contract/   what every side agrees on: the droplet's layout (and paths.env for the shell side),
              Spaces keys, deploy ids, the env-file format, passwords
  cli.py      the command line (`python3 -m firstboot.agent`, agent.py re-exports its main)
  inputs.py   settings and secrets; core.py the world the agent acts on (injected side effects)
  phases.py   which step runs next; steps/ one function per step, registered in steps.STEPS
  plans/      the pure decisions the steps ask (install, rollback, certificate, nginx, cutover)
  runner.py   runs the steps: owns the state, times them, keeps the live status current
  state.py, records.py   what is persisted and proved; proof.py builds the proof documents
A new step: a name in phases.py, a module in steps/ registered in STEPS, its choices in plans/.
"""
