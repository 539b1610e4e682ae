"""Small builders shared by the tests: valid ID numbers, roster files, the portal login form."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence

from django.test import Client
from django.urls import reverse
from stdnum.cn import ric

REGISTRAR_COLUMNS = ["number", "name", "category", "status", "id_number", "campus"]
HR_COLUMNS = ["number", "name", "id_number", "campus", "department"]


def resident_id(serial: int, *, region: str = "110105") -> str:
    """A distinct, checksum-valid resident ID number for each serial (born 1990–1999, Beijing Chaoyang)."""
    birth = f"{1990 + serial // 1000 % 10}0101"
    base = f"{region}{birth}{serial % 1000:03d}"
    return base + ric.calc_check_digit(base + "0")


def student_row(serial: int, **changes: str) -> dict[str, str]:
    row = {"number": f"2025{serial:06d}", "name": f"学生{serial}", "category": "undergraduate",
           "status": "full_time", "id_number": resident_id(serial), "campus": "main"}
    row.update(changes)
    return row


def staff_row(serial: int, **changes: str) -> dict[str, str]:
    row = {"number": f"T{serial:05d}", "name": f"教工{serial}", "id_number": resident_id(5000 + serial),
           "campus": "main", "department": "计算机学院"}
    row.update(changes)
    return row


def table(rows: Sequence[Mapping[str, str]], columns: Sequence[str] = REGISTRAR_COLUMNS,
          headers: Sequence[str] | None = None) -> list[list[str]]:
    """Header line (``headers`` or the column names) followed by each row's values in column order."""
    return [list(headers or columns), *([str(row.get(c, "")) for c in columns] for row in rows)]


def csv_bytes(lines: Sequence[Sequence[str]], *, encoding: str = "utf-8") -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(lines)
    return buffer.getvalue().encode(encoding)


def xlsx_bytes(lines: Sequence[Sequence[object]]) -> bytes:
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    for line in lines:
        sheet.append(list(line))
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def portal_login(client: Client, *, institution: str, number: str, password: str):
    return client.post(reverse("portal:login"), {"institution": institution, "number": number, "password": password})


class WSGIResponse:
    def __init__(self, status: str, headers: list, body: bytes):
        self.status_code = int(status.split()[0])
        self.headers = dict(headers)
        self.content = body

    def json(self):
        import json

        return json.loads(self.content)


_served = {}


def served_post(path: str, raw: bytes, headers: Mapping[str, str]) -> WSGIResponse:
    """POST through the production WSGI stack (the device lane in front of Django, as campuscard.wsgi
    builds it) rather than Django's test client, which would bypass the lane."""
    import sys

    from django.core.handlers.wsgi import WSGIHandler

    from campuscard.api.lane import DeviceLane
    from campuscard.api.main import lane_routes

    if "app" not in _served:
        _served["app"] = DeviceLane(WSGIHandler(), lane_routes())
    environ = {"REQUEST_METHOD": "POST", "PATH_INFO": path, "QUERY_STRING": "", "SERVER_NAME": "testserver",
               "SERVER_PORT": "80", "SERVER_PROTOCOL": "HTTP/1.1", "wsgi.url_scheme": "http",
               "wsgi.input": io.BytesIO(raw), "wsgi.errors": sys.stderr, "CONTENT_LENGTH": str(len(raw)),
               "CONTENT_TYPE": "application/json", "HTTP_HOST": "testserver"}
    environ.update({"HTTP_" + k.upper().replace("-", "_"): v for k, v in headers.items()})
    answer = {}

    def start_response(status, response_headers, exc_info=None):
        answer.update(status=status, headers=response_headers)

    body = b"".join(_served["app"](environ, start_response))
    return WSGIResponse(answer["status"], answer["headers"], body)


def at_once(count: int, work) -> tuple[list, list]:
    """Run ``work(n)`` in ``count`` threads released together (a race on PostgreSQL): the results and the
    exceptions, each thread's connection closed."""
    import threading

    from django.db import connection

    results, errors, start = [], [], threading.Barrier(count)

    def run(n: int):
        try:
            start.wait()
            results.append(work(n))
        except Exception as error:  # noqa: BLE001 - every failure is the test's business
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results, errors


def qr_texts(image) -> list[str]:
    """The QR codes a real decoder reads in ``image`` (a path, a file or a PIL image). Only QR is looked
    for: zxing's other readers find a false ITF barcode in about one random QR code in 1,300."""
    import zxingcpp
    from PIL import Image

    picture = image if isinstance(image, Image.Image) else Image.open(image)
    return [found.text for found in zxingcpp.read_barcodes(picture, formats=zxingcpp.BarcodeFormat.QRCode)]
