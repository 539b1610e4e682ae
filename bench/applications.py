"""The intake peak (APP-6, issue #16): card applications end to end over HTTP on PostgreSQL — materials,
the SMS code through an HTTP gateway, package and collection place, consent, a face check with real frames
(dlib liveness and the comparison with the registrar photo, in the Huey worker) and the submission — many
applicants at once, the way the two weeks before enrolment look; then the Card Center's bulk approval.

    python bench/applications.py [--quick] [--applicants N] [--clients C] [--workers W] [--face-workers F]

Each applicant is a registrar-roster student with a registrar photo (the same test face for all, its
embedding computed once at import) and a bearer token (the portal's session would be the same work). Their
frames are SYNTHESISED from the test stills (tests/enrollment/facegen.py: lids painted for the blink, a
perspective warp for the nod), made unique per applicant by the camera noise, as a real camera's are.
Figures: applications an hour from the first request to the last face check done, the submit endpoint's
latency while the worker is saturated, and the CPU seconds of one face check (from the worker), so the
worker count for an intake can be computed. The SMS gateway is a local HTTP server (the `http` provider).
"""

from __future__ import annotations

import http.client
import json
import os
import queue
import re
import subprocess
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from _common import ROOT, emit, free_port, fresh_database, parse_args, start_server

PORT = 8790
REDIS_DB = 11
ACTIONS = ("blink", "nod")
PHOTO = (ROOT / "tests" / "enrollment" / "faces" / "obama3.jpg").read_bytes()  # the certificate photo (ID-7)


def extra_args(parser):
    parser.add_argument("--applicants", type=int, default=None, help="default 60 quick / 400 full")
    parser.add_argument("--clients", type=int, default=8, help="applicants filling in their application at once")
    parser.add_argument("--workers", type=int, default=2, help="web server worker processes")
    parser.add_argument("--face-workers", type=int, default=2, help="Huey worker processes (the face checks)")


class Gateway(BaseHTTPRequestHandler):
    """The SMS gateway the `http` provider posts to: keeps the last code sent to each number."""

    codes: dict[str, str] = {}

    def do_POST(self):  # noqa: N802 (http.server's name)
        message = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        found = re.search(r"\d{6}", message["text"])
        if found:
            Gateway.codes[message["phone"]] = found.group(0)
        self.send_response(200)
        self.end_headers()

    def log_message(self, *_args):
        pass


def frame_pool(count: int) -> dict[tuple[str, ...], list[list[bytes]]]:
    """``count`` sequences in each order the server may ask for. Each is used once (a digest seen before is
    refused), so each applicant's copy differs in a corner pixel, as two cameras' noise would."""
    from tests.enrollment import facegen

    pool = {}
    for order in (ACTIONS, ACTIONS[::-1]):
        base = facegen.sequence("obama", list(order), seed=len(pool))
        pool[order] = []
        for serial in range(count):
            frames = [frame.copy() for frame in base]
            for frame in frames:  # the serial in 8-pixel black/white blocks along the top edge
                for bit in range(16):
                    frame[:8, bit * 8:(bit + 1) * 8] = 255 if serial >> bit & 1 else 0
            pool[order].append(facegen.encoded(frames))
            if serial % 100 == 99:
                print(f"  frames ({'/'.join(order)}): {serial + 1} / {count}", flush=True)
    return pool


def populate(count: int) -> dict:
    """An institution, its kiosk, ``count`` applicants (roster, login, registrar photo, token), an operator."""
    from django.contrib.auth.models import Group
    from tests.helpers import resident_id

    from campuscard.core.actors import Actor
    from campuscard.core.models import Area, Campus, Institution, ServicePoint
    from campuscard.enrollment import registrar
    from campuscard.enrollment.models import RegistrarPhoto
    from campuscard.identity.documents import IdType
    from campuscard.identity.models import Person, User
    from campuscard.identity.roles import ensure_role_groups
    from campuscard.identity.services import token_issue

    ensure_role_groups()
    institution = Institution.objects.create(code="uni", name="示范大学", name_en="Demo University")
    campus = Campus.objects.create(institution=institution, code="main", name="主校区", name_en="Main Campus")
    area = Area.objects.create(campus=campus, code="area1", name="一区", name_en="Area 1")
    kiosk = ServicePoint.objects.create(area=area, code="k1", kind=ServicePoint.Kind.KIOSK, name="图书馆自助机")
    people = Person.objects.bulk_create([
        Person(institution=institution, number=f"2026{n:06d}", name=f"新生{n}", kind=Person.Kind.UNDERGRADUATE,
               status=Person.Status.FULL_TIME, source=Person.Source.REGISTRAR, id_type=IdType.RESIDENT,
               id_number=resident_id(n + 1), campus=campus, department="计算机学院", enrollment_year=2026)
        for n in range(count)])
    photo = (ROOT / "tests" / "enrollment" / "faces" / "obama2.jpg").read_bytes()
    first = registrar.registrar_photo_store(actor=Actor.system("bench"), institution=institution,
                                            number=people[0].number, data=photo)
    RegistrarPhoto.objects.bulk_create([
        RegistrarPhoto(person=person, image=first.image, embedding=first.embedding, source="bench",
                       imported_at=first.imported_at) for person in people[1:]])
    applicants = []
    for person in people:
        user = User(username=f"{institution.code}.{person.number}", institution=institution)
        user.set_unusable_password()
        user.save()
        Person.objects.filter(pk=person.pk).update(user=user)
        _token, secret = token_issue(user=user, name="bench")
        applicants.append({"number": person.number, "id_number": person.id_number, "token": secret,
                           "phone": f"139{person.pk:08d}"})
    operator = User.objects.create_user(username="bench-operator", is_staff=True, institution=institution)
    operator.groups.add(Group.objects.get(name="card_center_operator"))
    _token, operator_token = token_issue(user=operator, name="bench")
    return {"applicants": applicants, "kiosk": kiosk.pk, "operator": operator_token}


class Client:
    def __init__(self, port: int, token: str):
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.headers = {"Authorization": f"Bearer {token}"}

    def call(self, method: str, path: str, payload=None, *, files=None, form=None, timings=None, expect=(200, 201, 202)):
        headers = dict(self.headers)
        body = b""
        if files is not None:
            boundary = uuid.uuid4().hex
            parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
                     for k, v in (form or {}).items()]
            for name, filename, data in files:
                parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"'
                             f'\r\nContent-Type: image/jpeg\r\n\r\n'.encode() + data + b"\r\n")
            body = b"".join(parts) + f"--{boundary}--\r\n".encode()
            headers["Content-Type"] = f"multipart/form-data; boundary={boundary}"
        elif payload is not None:
            body = json.dumps(payload).encode()
            headers["Content-Type"] = "application/json"
        started = time.perf_counter()
        self.connection.request(method, "/api/v1" + path, body=body, headers=headers)
        response = self.connection.getresponse()
        answer = response.read()
        if timings is not None:
            timings.append((time.perf_counter() - started) * 1000)
        if response.status not in expect:
            raise RuntimeError(f"{method} {path}: {response.status} {answer[:300]!r}")
        return json.loads(answer) if answer else None


def apply(port: int, applicant: dict, kiosk: int, frames: dict, timings: dict) -> None:
    """One applicant's whole application, as the portal's pages make the same calls."""
    client = Client(port, applicant["token"])
    client.call("POST", "/applications/mine", timings=timings["start"])
    proof = client.call("GET", "/applications/mine/status-proof")
    client.call("POST", "/applications/mine/status-proof", {"reference": proof["reference"]})
    client.call("POST", "/applications/mine/id-document", {"id_type": "resident", "id_number": applicant["id_number"]})
    client.call("POST", "/applications/mine/phone", {"phone": applicant["phone"]}, timings=timings["sms"])
    client.call("POST", "/applications/mine/phone/verify", {"code": Gateway.codes[applicant["phone"]]})
    client.call("POST", "/cards/photo", files=[("photo", "photo.jpg", PHOTO)])
    client.call("PUT", "/applications/mine/package", {"addons": ["laundry"], "collect": "kiosk", "collect_point": kiosk})
    client.call("POST", "/applications/mine/consent")
    attempt = client.call("POST", "/applications/mine/face/attempts")
    sequence = frames[tuple(attempt["actions"])].pop()
    client.call("POST", f"/applications/mine/face/attempts/{attempt['id']}/frames", form={"nonce": attempt["nonce"]},
                files=[("frames", f"f{i}.jpg", data) for i, data in enumerate(sequence)], timings=timings["frames"])
    client.call("POST", "/applications/mine/submit", timings=timings["submit"])


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


def main() -> None:
    args = parse_args(__doc__, extra_args)
    count = args.applicants or (60 if args.quick else 400)
    sys.path.insert(0, str(ROOT))  # tests.helpers, tests.enrollment.facegen
    db_url = fresh_database("postgres", "applications")
    t0 = time.perf_counter()
    data = populate(count)
    # Frames per applicant, in both orders the server may ask for (each sequence used once: digests are
    # refused the second time), made before the clock starts: a phone makes them, not the server.
    frames = frame_pool(count)
    setup_s = time.perf_counter() - t0
    frame_count, frame_kb = len(frames[ACTIONS][0]), sum(map(len, frames[ACTIONS][0])) // 1024

    gateway = ThreadingHTTPServer(("127.0.0.1", 0), Gateway)
    threading.Thread(target=gateway.serve_forever, daemon=True).start()
    data_dir = os.environ["CAMPUSCARD_DATA_DIR"]  # the same secret key (and so biometric key) as the set-up
    env = {**os.environ, "DATABASE_URL": db_url, "REDIS_URL": f"redis://127.0.0.1:6379/{REDIS_DB}", "DEBUG": "false",
           "DJANGO_SETTINGS_MODULE": "campuscard.settings", "LOG_LEVEL": "WARNING", "HUEY_IMMEDIATE": "false",
           "CAMPUSCARD_DATA_DIR": data_dir, "PYTHONPATH": str(ROOT / "src"), "SMS_PROVIDER": "http",
           "SMS_HTTP_URL": f"http://127.0.0.1:{gateway.server_address[1]}/sms", "SMS_HTTP_TOKEN": "bench",
           # every applicant here comes from 127.0.0.1: lift the per-address limits (per number stay)
           "SMS_ADDRESS_MAX_PER_HOUR": "1000000", "SMS_ADDRESS_MAX_WRONG": "1000000"}
    subprocess.run(["redis-cli", "-n", str(REDIS_DB), "FLUSHDB"], capture_output=True)
    port = free_port(PORT)
    server = start_server(env, port, "granian", args.workers, 4)
    # The face checks are batch work: the worker runs at a lower priority than the web server, as
    # docs/operations.md recommends, so submissions stay quick while it is saturated.
    worker = subprocess.Popen(["nice", "-n", "10", sys.executable, "-m", "campuscard.cli", "run_huey", "--workers", str(args.face_workers),
                               "--worker-type", "process", "--logfile", f"{data_dir}/worker.log"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    timings: dict[str, list[float]] = {"start": [], "sms": [], "frames": [], "submit": []}
    errors: list[str] = []
    todo: queue.Queue = queue.Queue()
    for applicant in data["applicants"]:
        todo.put(applicant)

    def client_loop():
        while True:
            try:
                applicant = todo.get_nowait()
            except queue.Empty:
                return
            try:
                apply(port, applicant, data["kiosk"], frames, timings)
            except Exception as error:  # noqa: BLE001 (counted and shown)
                errors.append(str(error)[:200])

    from campuscard.enrollment.models import Application, FaceAttempt

    try:
        started = time.perf_counter()
        clients = [threading.Thread(target=client_loop) for _ in range(args.clients)]
        for thread in clients:
            thread.start()
        submitted_s = None
        while True:
            alive = any(thread.is_alive() for thread in clients)
            if not alive and submitted_s is None:
                submitted_s = time.perf_counter() - started
            checking = Application.objects.filter(state__in=["draft", "checking"]).count()
            done = Application.objects.filter(state="review").count()
            print(f"  {time.perf_counter() - started:5.0f} s: {done} checked, {checking} in progress, "
                  f"{len(timings['submit'])} submitted, {len(errors)} errors" + (f" ({errors[0]})" if errors else ""),
                  flush=True)
            if not alive and (checking == 0 or len(errors) == count):
                break
            if time.perf_counter() - started > 1800:
                raise SystemExit("not done after 30 minutes")
            time.sleep(2)
        elapsed = time.perf_counter() - started
        operator = Client(port, data["operator"])
        t1 = time.perf_counter()
        approved = len(operator.call("POST", "/applications/approve-passed")["approved"])
        approve_s = time.perf_counter() - t1
    finally:
        worker.terminate()
        server.terminate()
        worker.wait(20)
        server.wait(10)
        gateway.shutdown()
    passed = Application.objects.filter(checks_passed=True).count()
    cpu = [a for a in FaceAttempt.objects.exclude(cpu_seconds=None).values_list("cpu_seconds", flat=True)]
    face_cpu = sum(cpu) / len(cpu) if cpu else 0.0
    rate = count / elapsed * 3600
    submit_p99 = percentile(timings["submit"], 0.99)
    frames_p99 = percentile(timings["frames"], 0.99)
    peak_cores = 2_000 * face_cpu / 3600  # a 20,000-student intake peaks near 2,000 applications an hour
    emit("applications", [
        ("applicants / clients at once", f"{count:,} / {args.clients}"),
        ("server / face workers", f"granian {args.workers} workers × 4 threads / Huey {args.face_workers} processes"),
        ("frames per attempt", f"{frame_count} JPEG, {frame_kb} kB"),
        ("set-up (roster, registrar photos, tokens, frames)", f"{setup_s:.0f} s"),
        ("all submitted after / all checked after", f"{submitted_s:.1f} s / {elapsed:.1f} s"),
        ("applications / hour (end to end, face checks included)", f"{rate:,.0f}"),
        ("automatic checks passed", f"{passed:,} of {count:,}"),
        ("request errors", f"{len(errors)}" + (f" (first: {errors[0]})" if errors else "")),
        ("submit p50 / p99", f"{percentile(timings['submit'], 0.5):.0f} / {submit_p99:.0f} ms"),
        ("frames upload p50 / p99", f"{percentile(timings['frames'], 0.5):.0f} / {frames_p99:.0f} ms"),
        ("SMS send p99", f"{percentile(timings['sms'], 0.99):.0f} ms"),
        ("face check CPU per application (worker)", f"{face_cpu:.2f} s"),
        ("worker cores for the peak of a 20,000 intake (2,000 / h)", f"{peak_cores:.2f}"),
        ("bulk approval (cards issued)", f"{approved:,} in {approve_s:.1f} s"),
    ], {"applications_per_hour": round(rate), "submit_p99_ms": round(submit_p99, 1), "face_cpu_s": round(face_cpu, 3),
        "frames_p99_ms": round(frames_p99, 1), "applicants": count, "passed": passed, "errors": len(errors),
        "approved": approved, "approve_s": round(approve_s, 2), "elapsed_s": round(elapsed, 1),
        "face_workers": args.face_workers, "peak_worker_cores": round(peak_cores, 3),
        "frames_per_attempt": frame_count})


if __name__ == "__main__":
    main()
