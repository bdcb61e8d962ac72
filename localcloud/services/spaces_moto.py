"""The local Spaces endpoint: moto's S3 server, with DigitalOcean Spaces' bucket-creation rule.

DigitalOcean Spaces creates a bucket in the endpoint's region when CreateBucket carries no LocationConstraint
(DigitalOcean's own boto3 examples call `create_bucket(Bucket=...)` with `region_name="nyc3"`). moto, like
AWS, refuses that outside us-east-1 (IllegalLocationConstraintException). So the local stand-in keeps the
real service's contract, the missing constraint defaults to the region the request was signed for. Everything
else is moto as it is.

Run by localcloud.services as a script (`python spaces_moto.py -H HOST -p PORT`), so it needs moto only.
"""

from __future__ import annotations

import sys

from moto.s3 import responses
from moto.server import main


def _patch_location_constraint() -> bool:
    original = getattr(responses.S3Response, "_get_location_constraint", None)
    if original is None:  # a moto without the hook: run unpatched rather than not at all
        print("spaces_moto: moto has no _get_location_constraint; CreateBucket needs a constraint", file=sys.stderr)
        return False

    def location_constraint(self: responses.S3Response) -> str | None:
        given = original(self)
        if given or self.region == "us-east-1":
            return given
        return self.region

    responses.S3Response._get_location_constraint = location_constraint  # type: ignore[method-assign]  # a patch of moto for the local Spaces (see above)
    return True


if __name__ == "__main__":
    _patch_location_constraint()
    main(sys.argv[1:])
