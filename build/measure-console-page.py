#!/usr/bin/env python3
"""Page load time and bytes of the operator console in headless chromium (Debian's chromium + chromedriver, spoken
to over the W3C WebDriver protocol; nothing else needed). Usage: build/measure-console-page.py URL [SECONDS]
Prints the first load (HTML+CSS+JS, time to the load event and until every camera shows a live frame) and what an open
page then transfers per minute (live frames, API polls, thumbnails)."""
import json, subprocess, sys, time, urllib.request, socket

url = sys.argv[1]
seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 30

def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]; s.close(); return port

port = free_port()
driver = subprocess.Popen(["chromedriver", f"--port={port}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
base = f"http://127.0.0.1:{port}"

def call(method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(base + path, data=data, method=method, headers={"Content-Type": "application/json"})
    return json.load(urllib.request.urlopen(request, timeout=120))["value"]

try:
    for _ in range(50):
        try:
            urllib.request.urlopen(base + "/status", timeout=1); break
        except OSError:
            time.sleep(0.1)
    caps = {"capabilities": {"alwaysMatch": {"browserName": "chrome", "goog:chromeOptions": {
        "binary": "/usr/bin/chromium", "args": ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1000"]}}}}
    session = call("POST", "/session", caps)["sessionId"]
    run = lambda script: call("POST", f"/session/{session}/execute/sync", {"script": script, "args": []})
    started = time.time()
    call("POST", f"/session/{session}/url", {"url": url})
    # Every camera card shows a loaded live frame.
    while time.time() - started < 60:
        shown = run("const imgs=[...document.querySelectorAll('.live img')]; return imgs.length>0 && imgs.every(i=>i.naturalWidth>0) ? imgs.length : 0")
        if shown:
            break
        time.sleep(0.05)
    live_ms = (time.time() - started) * 1000
    nav = run("const n=performance.getEntriesByType('navigation')[0]; return {load:n.loadEventEnd, dcl:n.domContentLoadedEventEnd, bytes:n.transferSize}")
    first = run("return performance.getEntriesByType('resource').filter(r=>/app\\.(js|css)$/.test(r.name)).reduce((s,r)=>s+r.transferSize,0)")
    run("performance.setResourceTimingBufferSize(100000); performance.clearResourceTimings(); window.__t0=performance.now(); return 0")
    time.sleep(seconds)
    steady = run("const rs=performance.getEntriesByType('resource'); const g={}; for (const r of rs){const k=r.name.includes('frame.jpg')?'live frames':r.name.includes('/snapshots/')||r.name.includes('/review/')?'thumbnails':'api'; g[k]=(g[k]||0)+r.transferSize;} return {ms:performance.now()-window.__t0, groups:g, count:rs.length}")
    per_minute = {k: round(v * 60000 / steady["ms"]) for k, v in steady["groups"].items()}
    print(json.dumps({
        "cameras": shown,
        "load_event_ms": round(nav["load"]), "dom_content_loaded_ms": round(nav["dcl"]),
        "first_live_frames_ms": round(live_ms),
        "page_bytes": nav["bytes"] + first,
        "steady_bytes_per_minute": per_minute, "steady_total_bytes_per_minute": sum(per_minute.values()),
        "steady_requests_per_minute": round(steady["count"] * 60000 / steady["ms"]),
    }, indent=1))
    call("DELETE", f"/session/{session}")
finally:
    driver.terminate()
