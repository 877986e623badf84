"""A small W3C WebDriver client (the protocol chromedriver speaks), enough for the console's
browser tests: sessions, navigation, elements, clicks, keys, scripts, screenshots and the
browser's console log. Standard library only; it talks to a chromedriver on 127.0.0.1."""

import base64
import json
import socket
import subprocess
import time
import urllib.error
import urllib.request

ELEMENT = "element-6066-11e4-a52e-4f735466cecf"


class WebDriverError(Exception):
    pass


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Browser:
    """Headless Chromium through chromedriver; `close()` ends both."""

    def __init__(self, chromium, chromedriver, width=1280, height=800):
        self.port = _free_port()
        self.driver = subprocess.Popen(
            [chromedriver, f"--port={self.port}", "--allowed-ips=127.0.0.1"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.base = f"http://127.0.0.1:{self.port}"
        for _ in range(100):
            try:
                self._http("GET", "/status")
                break
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.1)
        caps = {
            "capabilities": {"alwaysMatch": {
                "browserName": "chrome",
                "goog:chromeOptions": {
                    "binary": chromium,
                    "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                             "--disable-dev-shm-usage", "--no-first-run",
                             f"--window-size={width},{height}"],
                },
                "goog:loggingPrefs": {"browser": "ALL"},
            }}
        }
        out = self._http("POST", "/session", caps)
        self.session = out["sessionId"] if "sessionId" in out else out["value"]["sessionId"]

    def _http(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=120) as r:
                return json.loads(r.read() or b"{}")
        except urllib.error.HTTPError as e:
            raise WebDriverError(f"{method} {path}: {e.read().decode(errors='replace')}") from None

    def cmd(self, method, path, body=None):
        return self._http(method, f"/session/{self.session}{path}", body)["value"]

    def get(self, url):
        self.cmd("POST", "/url", {"url": url})

    def set_size(self, width, height):
        self.cmd("POST", "/window/rect", {"width": width, "height": height})

    def js(self, script, *args):
        return self.cmd("POST", "/execute/sync", {"script": script, "args": list(args)})

    def find(self, css, timeout=20):
        """The element `css` selects, once it exists and is shown."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                els = self.cmd("POST", "/elements", {"using": "css selector", "value": css})
            except WebDriverError:
                els = []
            for e in els:
                el = e[ELEMENT]
                if self.cmd("GET", f"/element/{el}/displayed"):
                    return el
            if time.monotonic() > deadline:
                raise WebDriverError(f"no visible element {css!r}")
            time.sleep(0.1)

    def click(self, css):
        # The page re-renders when a job ends: a found element can go stale before the click.
        for attempt in range(5):
            try:
                return self.cmd("POST", f"/element/{self.find(css)}/click", {})
            except WebDriverError as e:
                if "stale element" not in str(e) or attempt == 4:
                    raise

    def type(self, css, text, clear=True):
        el = self.find(css)
        if clear:
            self.cmd("POST", f"/element/{el}/clear", {})
        self.cmd("POST", f"/element/{el}/value", {"text": text})

    def keys(self, css, text):
        self.cmd("POST", f"/element/{self.find(css)}/value", {"text": text})

    def select(self, css, value):
        """Picks option `value` of select `css`, by clicking it as a user does."""
        self.click(f"{css} option[value={json.dumps(value)}]")

    def text(self, css):
        return self.cmd("GET", f"/element/{self.find(css)}/text")

    def wait(self, script, *args, timeout=60, what=None):
        """Waits until `script` (a function body returning a value) is truthy; returns it."""
        deadline = time.monotonic() + timeout
        while True:
            v = self.js(script, *args)
            if v:
                return v
            if time.monotonic() > deadline:
                raise WebDriverError(f"timed out waiting for {what or script}")
            time.sleep(0.15)

    def screenshot(self, path):
        with open(path, "wb") as f:
            f.write(base64.b64decode(self.cmd("GET", "/screenshot")))

    def console_errors(self):
        """The browser console's error messages since the last call."""
        out = self._http("POST", f"/session/{self.session}/se/log", {"type": "browser"})["value"]
        return [e["message"] for e in out if e.get("level") == "SEVERE"]

    def close(self):
        try:
            self._http("DELETE", f"/session/{self.session}")
        finally:
            self.driver.terminate()
            self.driver.wait(timeout=30)
