"""cdp.py: headless Chromium driven over the DevTools protocol on a pipe
(--remote-debugging-pipe), with the Python standard library only.

The browser reads commands on its fd 3 and writes replies and events on
its fd 4, each message a JSON object ended by a NUL byte.  Browser opens
one page and attaches to it (flat sessions); evaluate() runs JavaScript
in it and returns the value; every console error, uncaught exception and
log entry of level error is kept in Browser.problems.
"""
import base64
import fcntl
import json
import os
import select
import shutil
import signal
import subprocess
import tempfile
import time


class CDPError(Exception):
    pass


def find_chromium():
    """The browser to run: $OBJMEM_CHROMIUM, else chromium on PATH."""
    env = os.environ.get("OBJMEM_CHROMIUM")
    if env:
        return env if os.access(env, os.X_OK) else None
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    return None


def _high_fd(fd):
    """fd moved to a number >= 100 (close-on-exec), the original closed."""
    high = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 100)
    os.close(fd)
    return high


class Browser:
    def __init__(self, chromium, width=1400, height=1000, log_path=None):
        self.profile = tempfile.mkdtemp(prefix="objmem-chromium-")
        cmd_r, cmd_w = (_high_fd(fd) for fd in os.pipe())
        res_r, res_w = (_high_fd(fd) for fd in os.pipe())

        def child_fds():
            os.dup2(cmd_r, 3)  # dup2 leaves 3 and 4 open across exec
            os.dup2(res_w, 4)  # (close_fds=False: every other fd is close-on-exec)

        self.log = open(log_path, "wb") if log_path else subprocess.DEVNULL
        args = [chromium, "--headless=new", "--disable-gpu", "--no-sandbox",
                "--disable-dev-shm-usage", "--no-first-run", "--no-default-browser-check",
                "--disable-extensions", "--mute-audio", "--remote-debugging-pipe",
                "--user-data-dir=" + self.profile,
                "--window-size=%d,%d" % (width, height), "about:blank"]
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=self.log,
                                     stderr=self.log, preexec_fn=child_fds, close_fds=False,
                                     start_new_session=True)
        os.close(cmd_r)
        os.close(res_w)
        self.wfd, self.rfd = cmd_w, res_r
        self.buf = b""
        self.next_id = 0
        self.events = []
        self.problems = []
        self.session = None
        self.width, self.height = width, height
        self._attach()

    # -------------------------------------------------------------- wire
    def _read_message(self, deadline):
        while b"\0" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise CDPError("no answer from the browser in time")
            ready, _, _ = select.select([self.rfd], [], [], left)
            if not ready:
                continue
            chunk = os.read(self.rfd, 1 << 20)
            if not chunk:
                raise CDPError("the browser closed the pipe (exit status %s)" % self.proc.poll())
            self.buf += chunk
        raw, self.buf = self.buf.split(b"\0", 1)
        return json.loads(raw)

    def _note_event(self, msg):
        self.events.append(msg)
        method, params = msg.get("method"), msg.get("params", {})
        if method == "Runtime.exceptionThrown":
            d = params.get("exceptionDetails", {})
            self.problems.append("uncaught: %s %s" % (d.get("text", ""),
                                 d.get("exception", {}).get("description", "")))
        elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            texts = [a.get("value", a.get("description", "")) for a in params.get("args", [])]
            self.problems.append("console.%s: %s" % (params["type"], " ".join(map(str, texts))))
        elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
            self.problems.append("log: " + params["entry"].get("text", ""))

    def send(self, method, params=None, session=True, timeout=60):
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params or {}}
        if session and self.session:
            msg["sessionId"] = self.session
        data = json.dumps(msg).encode() + b"\0"
        while data:
            data = data[os.write(self.wfd, data):]
        deadline = time.monotonic() + timeout
        while True:
            reply = self._read_message(deadline)
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise CDPError("%s: %s" % (method, reply["error"]))
                return reply.get("result", {})
            if "method" in reply:
                self._note_event(reply)

    def pump(self, seconds):
        """Read events for a while (they are noted as they come)."""
        deadline = time.monotonic() + seconds
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            ready, _, _ = select.select([self.rfd], [], [], left)
            if ready:
                self.buf += os.read(self.rfd, 1 << 20)
                while b"\0" in self.buf:
                    raw, self.buf = self.buf.split(b"\0", 1)
                    msg = json.loads(raw)
                    if "method" in msg:
                        self._note_event(msg)

    # -------------------------------------------------------------- page
    def _attach(self):
        targets = self.send("Target.getTargets", session=False)["targetInfos"]
        pages = [t for t in targets if t.get("type") == "page"]
        if pages:
            target = pages[0]["targetId"]
        else:
            target = self.send("Target.createTarget", {"url": "about:blank"}, session=False)["targetId"]
        self.session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True},
                                 session=False)["sessionId"]
        for domain in ("Runtime", "Log", "Page"):
            self.send(domain + ".enable")
        self.send("Emulation.setDeviceMetricsOverride",
                  {"width": self.width, "height": self.height, "deviceScaleFactor": 1, "mobile": False})

    def navigate(self, url):
        self.send("Page.navigate", {"url": url})

    def evaluate(self, expression, timeout=60):
        r = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                           "awaitPromise": True}, timeout=timeout)
        if "exceptionDetails" in r:
            d = r["exceptionDetails"]
            raise CDPError("evaluating %r: %s %s" % (expression, d.get("text"),
                           d.get("exception", {}).get("description", "")))
        return r.get("result", {}).get("value")

    def wait_for(self, expression, timeout, interval=0.02):
        """Poll expression until it is truthy; the seconds it took."""
        start = time.monotonic()
        while True:
            if self.evaluate(expression):
                return time.monotonic() - start
            if time.monotonic() - start > timeout:
                raise CDPError("timed out after %.1f s waiting for %s" % (timeout, expression))
            time.sleep(interval)

    def mouse_move(self, x, y):
        self.send("Input.dispatchMouseEvent", {"type": "mouseMoved", "x": x, "y": y})

    def screenshot(self, path):
        data = self.send("Page.captureScreenshot", {"format": "png"})["data"]
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))
        return path

    def close(self):
        try:
            if self.proc.poll() is None:
                try:
                    self.send("Browser.close", session=False, timeout=5)
                except (CDPError, OSError):
                    pass
                try:
                    self.proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    os.killpg(self.proc.pid, signal.SIGKILL)  # its own group
                    self.proc.wait()
        finally:
            for fd in (self.wfd, self.rfd):
                try:
                    os.close(fd)
                except OSError:
                    pass
            if self.log is not subprocess.DEVNULL:
                self.log.close()
            shutil.rmtree(self.profile, ignore_errors=True)
