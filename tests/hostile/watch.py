"""Proof that nothing was read or connected to: an inotify watch on a secret file (any open or
read by any process shows) and a loopback listener that must never see a connection."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import socket
import struct
from pathlib import Path

IN_ACCESS, IN_OPEN = 0x00000001, 0x00000020
IN_NONBLOCK = os.O_NONBLOCK


class FileWatch:
    """Counts every open/read of one file, by anyone, while the watch is on (Linux inotify)."""

    def __init__(self, path: Path) -> None:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        self._fd = libc.inotify_init1(IN_NONBLOCK)
        if self._fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1")
        if libc.inotify_add_watch(self._fd, str(path).encode(), IN_OPEN | IN_ACCESS) < 0:
            os.close(self._fd)
            raise OSError(ctypes.get_errno(), "inotify_add_watch")

    def events(self) -> int:
        """Number of open/read events since the last call."""
        seen = 0
        while True:
            try:
                data = os.read(self._fd, 65536)
            except BlockingIOError:
                return seen
            offset = 0
            while offset < len(data):
                _, mask, _, length = struct.unpack_from("iIII", data, offset)
                if mask & (IN_OPEN | IN_ACCESS):
                    seen += 1
                offset += 16 + length

    def close(self) -> None:
        os.close(self._fd)


class Listener:
    """A loopback TCP port that must never receive a connection."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.setblocking(False)
        self.port = self.sock.getsockname()[1]

    def connections(self) -> int:
        accepted = 0
        while True:
            try:
                conn, _ = self.sock.accept()
            except BlockingIOError:
                return accepted
            conn.close()
            accepted += 1

    def close(self) -> None:
        self.sock.close()
