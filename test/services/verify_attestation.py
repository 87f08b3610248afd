"""Verify a rehearse bundle's attestation with securesystemslib, an implementation rehearse did not write.

usage: python verify_attestation.py BUNDLE_DIR PUBLIC_KEY.pem

Checks the DSSE signature of attestation.intoto.jsonl with the public key (securesystemslib's Envelope and
SSlibKey, the key id it computes by default), then every subject's sha256 against the bundle's files.
Prints one JSON line; exits 0 when all hold, 1 otherwise, naming what differs.
"""

import hashlib
import json
import sys
from pathlib import Path

from cryptography.hazmat.primitives.serialization import load_pem_public_key
from securesystemslib.dsse import Envelope
from securesystemslib.exceptions import VerificationError
from securesystemslib.signer import SSlibKey

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PAYLOAD_TYPE = "application/vnd.in-toto+json"


def fail(reason: str) -> None:
    print(json.dumps({"ok": False, "reason": reason}))
    sys.exit(1)


def main(bundle: Path, public_pem: Path) -> None:
    key = SSlibKey.from_crypto(load_pem_public_key(public_pem.read_bytes()))
    lines = (bundle / "attestation.intoto.jsonl").read_text().splitlines()
    envelopes = [Envelope.from_dict(json.loads(line)) for line in lines if line.strip()]
    if len(envelopes) != 1:
        fail(f"expected one envelope, found {len(envelopes)}")
    envelope = envelopes[0]
    if envelope.payload_type != PAYLOAD_TYPE:
        fail(f"payloadType {envelope.payload_type}")
    try:
        envelope.verify([key], 1)
    except VerificationError as error:
        fail(f"signature: {error}")
    statement = json.loads(envelope.payload)
    if statement.get("_type") != STATEMENT_TYPE:
        fail(f"_type {statement.get('_type')}")
    for subject in statement["subject"]:
        name = subject["name"]
        path = bundle / name
        if not path.is_file():
            fail(f"subject {name}: not in the bundle")
        if hashlib.sha256(path.read_bytes()).hexdigest() != subject["digest"]["sha256"]:
            fail(f"subject {name}: sha256 differs")
    print(
        json.dumps(
            {
                "ok": True,
                "keyid": key.keyid,
                "scheme": key.scheme,
                "subjects": len(statement["subject"]),
                "predicateType": statement["predicateType"],
                "result": statement["predicate"]["result"],
            }
        )
    )


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
