"""Backups and restores of a droplet's data: the pure core (decides and describes, runs nothing).

Runs on the droplet with Debian's python3, so standard library only. The shell around it (the SSH
channel, the systemd timer, the agent's steps, the CLI) runs the commands built here and feeds the
facts it gathered back into these functions:

- `ids`: backup ids (`20261202T120000Z-scheduled`) and their kinds.
- `keys`: where a backup set lives in Spaces (`backups/<database>/<backup id>/`) and its part names.
- `backup_plan`: taking a backup in the order that makes it consistent (one snapshot for the dump and
  its facts, the filestore after the dump, the manifest last).
- `manifest`: the manifest written last (build, canonical JSON, strict parse).
- `completeness`: is a set complete (every part the manifest names, same size and SHA-256)?
- `commands`: pg_dump, tar, age, pg_restore, neutralize, dropdb as argv tuples with redirections as data.
- `queries`: the SQL that gathers the manifest's facts, and parsers of psql's answers.
- `checks`, `versions`: attachments present, versions compatible, the drill's row counts.
- `restore`, `failures`: the restore plan, each failure a typed reason.
- `drill`: the restore drill's commands, its judgement and the record it leaves in Spaces.
- `retention`: which backups to keep (7 daily, 4 weekly, 3 monthly, manual kept) and which to prune.
- `upload`: what to upload next, or that the local copy may go; the status shown to the operator.
"""
