"""A pty pair relayed to another, so that either end may close and reopen."""
import os
import tty


class PtyLink:
    """Two pty pairs relayed back to back: pymodbus opens one slave, the
    firmware the other. Both slaves stay open here, so either side may close
    and reopen its end without the relay seeing EIO."""

    def __init__(self, loop, link_path=None):
        self.loop = loop
        self.m_emu, self.s_emu = os.openpty()
        self.m_fw, self.s_fw = os.openpty()
        for fd in (self.s_emu, self.s_fw):
            tty.setraw(fd)
        for fd in (self.m_emu, self.m_fw):
            os.set_blocking(fd, False)
        self.emu_path = os.ttyname(self.s_emu)
        self.fw_path = os.ttyname(self.s_fw)
        self.link = None
        if link_path:
            if os.path.islink(link_path):
                os.unlink(link_path)
            os.symlink(self.fw_path, link_path)
            self.link = link_path
        loop.add_reader(self.m_emu, self._relay, self.m_emu, self.m_fw)
        loop.add_reader(self.m_fw, self._relay, self.m_fw, self.m_emu)

    @staticmethod
    def _relay(src, dst):
        try:
            data = os.read(src, 4096)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            return
        try:
            os.write(dst, data)
        except (BlockingIOError, OSError):
            pass  # nobody reads that side: drop, as a bus with no listener does

    def close(self):
        for fd in (self.m_emu, self.m_fw):
            try:
                self.loop.remove_reader(fd)
            except Exception:  # noqa: BLE001
                pass
        for fd in (self.m_emu, self.s_emu, self.m_fw, self.s_fw):
            try:
                os.close(fd)
            except OSError:
                pass
        if self.link and os.path.islink(self.link):
            os.unlink(self.link)
