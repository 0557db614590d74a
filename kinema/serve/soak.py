"""A bounded load test of a running studio: ``requests`` jobs posted by ``clients`` concurrent
clients to one endpoint, each accepted job polled to its end and its first result fetched.

Only 202 (accepted, then done) and 429/503 (refused because the queue is full) are allowed;
anything else — a 4xx for a good request, a 5xx, a job that errors or never ends, a
connection error — is a failure listed in the result.
"""
from __future__ import annotations

import threading
import time
from collections import Counter


def soak(base_url: str, tab: str, body: dict, requests: int = 200, clients: int = 20,
         timeout: float = 120.0, backoff: float = 0.2) -> dict:
    """{"statuses", "done", "failures", "seconds", "job_seconds" (sorted), "requests", "clients"}.
    A client whose request was refused (429/503) waits ``backoff`` seconds before its next one."""
    import httpx

    lock = threading.Lock()
    statuses: Counter = Counter()
    failures: list[str] = []
    job_seconds: list[float] = []
    remaining = [requests]
    deadline = time.monotonic() + timeout

    def take() -> bool:
        with lock:
            if remaining[0] <= 0:
                return False
            remaining[0] -= 1
            return True

    def client() -> None:
        with httpx.Client(base_url=base_url, timeout=30.0) as http:
            while take() and time.monotonic() < deadline:
                start = time.monotonic()
                try:
                    response = http.post(f"/api/run/{tab}", json=body)
                    with lock:
                        statuses[response.status_code] += 1
                    if response.status_code in (429, 503):
                        time.sleep(backoff)
                        continue
                    if response.status_code != 202:
                        raise RuntimeError(f"{response.status_code}: {response.text[:200]}")
                    job = response.json()["job"]
                    while True:
                        state = http.get(f"/api/jobs/{job}").json()
                        if state["state"] in ("done", "error"):
                            break
                        if time.monotonic() > deadline:
                            raise RuntimeError(f"job {job} did not finish before the deadline")
                        time.sleep(0.02)
                    if state["state"] == "error":
                        raise RuntimeError(f"job {job} failed: {state['error']}")
                    media = http.get(f"/api/jobs/{job}/media/0")
                    if media.status_code != 200:
                        raise RuntimeError(f"job {job} media: {media.status_code}")
                    with lock:
                        job_seconds.append(time.monotonic() - start)
                except Exception as err:   # every kind of failure is counted, not raised
                    with lock:
                        failures.append(f"{type(err).__name__}: {err}")

    begin = time.monotonic()
    threads = [threading.Thread(target=client, name=f"soak-{i}") for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return {"requests": requests, "clients": clients, "statuses": dict(statuses),
            "done": len(job_seconds), "failures": failures,
            "seconds": time.monotonic() - begin, "job_seconds": sorted(job_seconds)}


def rss_bytes(pid: int) -> int:
    """Resident memory of a process (Linux /proc)."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for process {pid}")
