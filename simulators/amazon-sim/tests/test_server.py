from __future__ import annotations

import subprocess
import sys
import time

import httpx

from amazon_sim.testing import free_port, wait_until_serving


def test_runs_as_a_module_with_background_feed_processing() -> None:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "amazon_sim", "--port", str(port), "--seed", "1"])
    try:
        base = f"http://127.0.0.1:{port}"
        wait_until_serving(base)
        r = httpx.post(f"{base}/auth/o2/token", data={
            "grant_type": "refresh_token", "refresh_token": "Atzr|sim-refresh-token",
            "client_id": "amzn1.application-oa2-client.sim", "client_secret": "sim-secret"})
        headers = {"x-amz-access-token": r.json()["access_token"]}
        doc = httpx.post(f"{base}/feeds/2021-06-30/documents", headers=headers,
                         json={"contentType": "application/json"}).json()
        assert doc["url"].startswith(base)
        httpx.put(doc["url"], content=b'{"header":{"sellerId":"A1SIMSELLER0001","version":"2.0"},"messages":'
                                      b'[{"messageId":1,"sku":"S","operationType":"DELETE"}]}')
        feed_id = httpx.post(f"{base}/feeds/2021-06-30/feeds", headers=headers, json={
            "feedType": "JSON_LISTINGS_FEED", "marketplaceIds": ["ATVPDKIKX0DER"],
            "inputFeedDocumentId": doc["feedDocumentId"]}).json()["feedId"]
        deadline = time.monotonic() + 5
        status = None
        while time.monotonic() < deadline:
            status = httpx.get(f"{base}/_sim/stats").json()["feeds"]
            if status.get("DONE"):
                break
            time.sleep(0.1)
        assert status == {"DONE": 1}, (feed_id, status)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
