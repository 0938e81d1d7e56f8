#!/usr/bin/env python3
"""Drive two Syncthing instances for bench/lib/syncthing.bash, over the REST API.

  syncthing.py prepare HOME GUI_PORT LISTEN_PORT
      Edit HOME/config.xml (made by `syncthing generate`): loopback only, no
      discovery, relays, NAT, upgrades, usage or crash reporting. Writes
      HOME/bench.json (REST address, API key, device ID, listen address).
  syncthing.py connect HOME_A HOME_B
      Wait for both REST APIs, introduce the devices to each other, wait until
      they are connected.
  syncthing.py round ROUND HOME_A HOME_B SRC DST FILES TIMEOUT
      ROUND initial: share folder "bench" (A send-only at SRC, B receive-only at
      DST); incremental/nochange: rescan A. Wait until B has everything A has.
      Prints "SECONDS BYTES" (BYTES = A's connection bytes in + out, delta).
"""
import json
import os
import sys
import time
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET

FOLDER = "bench"


def prepare(home, gui_port, listen_port):
    path = os.path.join(home, "config.xml")
    tree = ET.parse(path)
    root = tree.getroot()
    gui = root.find("gui")
    gui.find("address").text = f"127.0.0.1:{gui_port}"
    opts = root.find("options")
    settings = {
        "listenAddress": f"tcp://127.0.0.1:{listen_port}",
        "globalAnnounceEnabled": "false", "localAnnounceEnabled": "false",
        "relaysEnabled": "false", "natEnabled": "false", "startBrowser": "false",
        "urAccepted": "-1", "crashReportingEnabled": "false", "autoUpgradeIntervalH": "0",
        "setLowPriority": "false",
    }
    for key, value in settings.items():
        el = opts.find(key)
        if el is None:
            el = ET.SubElement(opts, key)
        el.text = value
    tree.write(path)
    state = {"url": f"http://127.0.0.1:{gui_port}", "apikey": gui.find("apikey").text,
             "device": root.find("device").get("id"), "listen": f"tcp://127.0.0.1:{listen_port}"}
    with open(os.path.join(home, "bench.json"), "w") as f:
        json.dump(state, f)


class Instance:
    def __init__(self, home):
        with open(os.path.join(home, "bench.json")) as f:
            self.__dict__.update(json.load(f))

    def call(self, method, path, body=None, timeout=600):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method,
                                     headers={"X-API-Key": self.apikey,
                                              "Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=timeout) as r:
            raw = r.read()
        return json.loads(raw) if raw.strip().startswith((b"{", b"[")) else raw

    def wire_bytes(self):
        t = self.call("GET", "/rest/system/connections")["total"]
        return t["inBytesTotal"] + t["outBytesTotal"]


def wait_for(what, fn, timeout, interval=0.1):
    end = time.monotonic() + timeout
    last = None
    while time.monotonic() < end:
        try:
            ok, last = fn()
            if ok:
                return
        except (urllib.error.URLError, OSError, KeyError, ValueError) as e:
            last = repr(e)
        time.sleep(interval)
    raise SystemExit(f"syncthing: timed out waiting for {what} (last: {last})")


def connect(home_a, home_b):
    a, b = Instance(home_a), Instance(home_b)
    for inst in (a, b):
        wait_for(f"the REST API of {inst.url}",
                 lambda: (inst.call("GET", "/rest/system/ping").get("ping") == "pong", None), 60)
    for me, peer, name in ((a, b, "B"), (b, a, "A")):
        me.call("POST", "/rest/config/devices",
                {"deviceID": peer.device, "name": name, "addresses": [peer.listen],
                 "compression": "metadata"})

    def connected():
        c = a.call("GET", "/rest/system/connections")["connections"].get(b.device, {})
        return bool(c.get("connected")), c
    wait_for("the two devices to connect", connected, 60)


def folder_config(kind, path, a, b):
    return {"id": FOLDER, "label": FOLDER, "path": path, "type": kind,
            "devices": [{"deviceID": a.device}, {"deviceID": b.device}],
            "rescanIntervalS": 3600, "fsWatcherEnabled": False}


def in_sync(a, b, files):
    """B holds every file A has scanned: A idle with the expected totals, A's
    view of B's completion at 100%, B idle with nothing left to pull."""
    sa = a.call("GET", f"/rest/db/status?folder={FOLDER}")
    sb = b.call("GET", f"/rest/db/status?folder={FOLDER}")
    comp = a.call("GET", f"/rest/db/completion?folder={FOLDER}&device={b.device}")
    need_b = sb["needFiles"] + sb["needDirectories"] + sb["needSymlinks"] + sb["needDeletes"]
    # (Syncthing counts 128 bytes per directory in localBytes, so compare A with B.)
    ok = (sa["state"] == "idle" and sa["localFiles"] == files
          and comp["completion"] == 100 and comp["needItems"] == 0 and comp["needDeletes"] == 0
          and comp.get("remoteState", "valid") == "valid"
          and sb["state"] == "idle" and need_b == 0
          and sb["localFiles"] == files and sb["localBytes"] == sa["localBytes"])
    return ok, {"a": sa["state"], "a_files": sa["localFiles"], "b": sb["state"],
                "b_files": sb["localFiles"], "b_need": need_b, "completion": comp["completion"]}


def round_(name, home_a, home_b, src, dst, files, timeout):
    a, b = Instance(home_a), Instance(home_b)
    before = a.wire_bytes()
    t0 = time.monotonic()
    if name == "initial":
        b.call("PUT", f"/rest/config/folders/{FOLDER}", folder_config("receiveonly", dst, a, b))
        a.call("PUT", f"/rest/config/folders/{FOLDER}", folder_config("sendonly", src, a, b))
    else:
        a.call("POST", f"/rest/db/scan?folder={FOLDER}")   # returns when the scan is done
    wait_for(f"the {name} round to complete", lambda: in_sync(a, b, files), timeout)
    t1 = time.monotonic()
    time.sleep(0.2)   # let the last index exchange reach the counters
    print(f"{t1 - t0:.6f} {a.wire_bytes() - before}")


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "prepare":
        prepare(args[0], int(args[1]), int(args[2]))
    elif cmd == "connect":
        connect(*args)
    elif cmd == "round":
        round_(args[0], args[1], args[2], args[3], args[4], int(args[5]), float(args[6]))
    else:
        raise SystemExit(f"syncthing.py: unknown command {cmd!r}")


if __name__ == "__main__":
    main()
