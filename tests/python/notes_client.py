"""Calls the notes gRPC service with Python grpcio and prints one JSON line per call.

Usage: notes_client.py STUBS_DIR ADDRESS CALLS_JSON
CALLS_JSON is a list of {"method": "List"|"Add"|"Delete"|"Watch", "token": str|null,
"text": str, "id": int, "take": int, "twice": bool (send the authorization entry twice)}. For each call it prints
{"code": "OK"|<grpc.StatusCode name>, "details": str, "www_authenticate": str|null,
"result": ...}.
"""
import json
import sys

sys.path.insert(0, sys.argv[1])

import grpc  # noqa: E402
import notes_pb2  # noqa: E402
import notes_pb2_grpc  # noqa: E402


def note(n):
    return {"id": n.id, "text": n.text, "author": n.author}


def main():
    address, calls = sys.argv[2], json.loads(sys.argv[3])
    with grpc.insecure_channel(address) as channel:
        stub = notes_pb2_grpc.NotesStub(channel)
        for call in calls:
            metadata = [("authorization", "Bearer " + call["token"])] if call.get("token") else []
            if call.get("twice"):
                metadata = metadata * 2
            method = call["method"]
            out = {"code": "OK", "details": "", "www_authenticate": None, "result": None}
            try:
                if method == "List":
                    reply = stub.List(notes_pb2.ListNotesRequest(), metadata=metadata, timeout=10)
                    out["result"] = [note(n) for n in reply.notes]
                elif method == "Add":
                    reply = stub.Add(notes_pb2.AddNoteRequest(text=call["text"]), metadata=metadata, timeout=10)
                    out["result"] = note(reply)
                elif method == "Delete":
                    stub.Delete(notes_pb2.DeleteNoteRequest(id=call["id"]), metadata=metadata, timeout=10)
                elif method == "Watch":
                    stream = stub.Watch(notes_pb2.WatchNotesRequest(), metadata=metadata, timeout=10)
                    taken = []
                    for n in stream:
                        taken.append(note(n))
                        if len(taken) >= call.get("take", 1):
                            stream.cancel()
                            break
                    out["result"] = taken
                else:
                    raise SystemExit("unknown method " + method)
            except grpc.RpcError as e:
                out["code"] = e.code().name
                out["details"] = e.details()
                for key, value in e.trailing_metadata() or ():
                    if key == "www-authenticate":
                        out["www_authenticate"] = value
            print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
