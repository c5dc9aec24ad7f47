"""sepflow's logging: one set of handlers per stage or command, and progress that is a bar on a
terminal and periodic lines in a job's log."""

from __future__ import annotations

import fcntl
import io
import logging
import os
import pty
import select
import struct
import termios

from sepflow.logs import configure, progress

logger = logging.getLogger("sepflow.test")


def test_a_job_log_gets_every_line_with_its_time_and_the_console_only_warnings(tmp_path):
    console = io.StringIO()
    configure(tmp_path / "job.log", console=console)
    logger.info("prepared 3 files")
    logger.warning("the disk is nearly full")
    logging.getLogger("sepflow").handlers[0].flush()
    lines = (tmp_path / "job.log").read_text().splitlines()
    assert [line.split(" ", 1)[1] for line in lines] == [
        "INFO sepflow.test: prepared 3 files",
        "WARNING sepflow.test: the disk is nearly full",
    ]
    assert console.getvalue() == "the disk is nearly full\n"


def test_a_command_says_its_lines_on_the_console_unless_quiet():
    console = io.StringIO()
    configure(console=console)
    logger.info("enhanced 2 files")
    configure(console=console, quiet=True)
    logger.info("not shown")
    assert console.getvalue() == "enhanced 2 files\n"


def test_progress_in_a_job_log_is_a_line_at_every_tenth_and_at_the_end():
    log = io.StringIO()
    configure(log, console=None)
    assert list(progress(range(25), 25, "evaluated", logger)) == list(range(25))
    said = [line.rsplit(": ", 1)[1] for line in log.getvalue().splitlines()]
    assert said == [
        "2/25",
        "4/25",
        "6/25",
        "8/25",
        "10/25",
        "12/25",
        "14/25",
        "16/25",
        "18/25",
        "20/25",
        "22/25",
        "24/25",
        "25/25",
    ]


def test_progress_on_a_terminal_is_a_bar_not_lines():
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # a terminal 100 columns wide
    with os.fdopen(follower, "w") as terminal:
        configure(console=terminal)
        assert list(progress(range(5), 5, "enhanced", logger)) == list(range(5))
        terminal.flush()
        shown = ""
        while select.select([leader], [], [], 0.2)[0]:
            shown += os.read(leader, 4096).decode()
    os.close(leader)
    assert "enhanced" in shown and "5/5" in shown and "|" in shown and "\r" in shown  # a bar, redrawn in place
