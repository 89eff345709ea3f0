"""Minimal Marionette client (protocol 3): "LENGTH:JSON" framing over TCP."""
import json, socket, time


class MarionetteError(Exception):
    pass


class Marionette:
    def __init__(self, host="127.0.0.1", port=2828, connect_timeout=90):
        deadline = time.time() + connect_timeout
        last = None
        while True:
            try:
                self.sock = socket.create_connection((host, port), timeout=5)
                break
            except OSError as e:
                last = e
                if time.time() > deadline:
                    raise MarionetteError("cannot connect to marionette: %s" % last)
                time.sleep(0.5)
        self.sock.settimeout(None)
        self.buf = b""
        self.id = 0
        self.hello = self._recv()

    def _recv(self):
        while b":" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise MarionetteError("connection closed")
            self.buf += chunk
        n, rest = self.buf.split(b":", 1)
        n = int(n)
        while len(rest) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise MarionetteError("connection closed")
            rest += chunk
        msg, self.buf = rest[:n], rest[n:]
        return json.loads(msg)

    def send(self, name, params=None):
        self.id += 1
        data = json.dumps([0, self.id, name, params or {}]).encode()
        self.sock.sendall(str(len(data)).encode() + b":" + data)
        while True:
            msg = self._recv()
            if msg[0] == 1 and msg[1] == self.id:
                if msg[2]:
                    raise MarionetteError("%s: %s" % (name, json.dumps(msg[2])[:4000]))
                return msg[3]

    def start(self):
        caps = self.send("WebDriver:NewSession", {"capabilities": {"alwaysMatch": {}}})
        self.send("Marionette:SetContext", {"value": "chrome"})
        self.send("WebDriver:SetTimeouts", {"script": 600000})
        return caps

    def js(self, script, *args):
        """Run chrome-privileged JS (function body; may return a Promise, which is awaited)."""
        r = self.send("WebDriver:ExecuteScript", {"script": script, "args": list(args)})
        return r.get("value") if isinstance(r, dict) else r

    def quit(self):
        try:
            self.send("Marionette:Quit", {"flags": ["eAttemptQuit"]})
        except Exception:
            pass
