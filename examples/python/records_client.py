#!/usr/bin/env python3
"""Finds a patient through Outpost's records API and posts a lab result for them.

A laboratory system does this as a service account of the clinic (`outpost-server
service-account add --clinic ID --name "District laboratory" --scope read-write` prints the
token). Generate the client from the .proto first (grpcio-tools):

    python -m grpc_tools.protoc -I src/server/proto \
        --python_out=examples/python --grpc_python_out=examples/python records.proto

then, for the server on this computer (plain text is accepted on loopback only):

    python examples/python/records_client.py --server 127.0.0.1:7443 --token-file token.txt \
        --number OUT-000001 --test Haemoglobin --value 9.8 --unit g/dL --abnormal

For a server elsewhere, add --ca certificate.pem (the certificate `outpost-server init` made).
It prints what it found and did as `key: value` lines; errors go to stderr with exit status 1.
"""

import argparse
import sys
import uuid

import grpc

import records_pb2
import records_pb2_grpc


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", required=True, help="HOST:PORT of outpost-server")
    parser.add_argument("--token-file", required=True, help="file holding the service account's token")
    parser.add_argument("--ca", help="PEM certificate to trust (a server with TLS)")
    parser.add_argument("--number", required=True, help="the patient's number, e.g. OUT-000001")
    parser.add_argument("--test", required=True, help="the test, e.g. Haemoglobin")
    parser.add_argument("--value", required=True)
    parser.add_argument("--unit", default="")
    parser.add_argument("--abnormal", action="store_true")
    parser.add_argument("--request-id", default=None,
                        help="a UUID for this result; sending it again adds nothing (default: a new one)")
    args = parser.parse_args()

    with open(args.token_file, encoding="utf-8") as f:
        token = f.read().strip()
    if args.ca:
        with open(args.ca, "rb") as f:
            channel = grpc.secure_channel(args.server, grpc.ssl_channel_credentials(f.read()))
    else:
        channel = grpc.insecure_channel(args.server)
    auth = (("authorization", f"Bearer {token}"),)
    records = records_pb2_grpc.RecordsStub(channel)

    try:
        found = records.SearchPatients(
            records_pb2.SearchPatientsRequest(number=args.number), metadata=auth)
        if not found.patients:
            print(f"no patient numbered {args.number} in this clinic", file=sys.stderr)
            return 1
        patient = found.patients[0]
        print(f"patient: {patient.patient_id}")
        print(f"name: {patient.given_name} {patient.family_name}")

        record = records.GetPatient(
            records_pb2.GetPatientRequest(patient_id=patient.patient_id), metadata=auth)
        print(f"visits: {len(record.visits)}")

        posted = records.CreateObservation(
            records_pb2.CreateObservationRequest(
                request_id=args.request_id or str(uuid.uuid4()),
                patient_id=patient.patient_id,
                results=[records_pb2.LabResult(
                    test=args.test, value=args.value, unit=args.unit, abnormal=args.abnormal)],
            ),
            metadata=auth,
        )
        print(f"lab result visit: {posted.visit_id}")
    except grpc.RpcError as error:
        print(f"{error.code().name}: {error.details()}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
