"""Drive a command through a real pseudo-terminal, as a person at a keyboard would.

Usage: terminal.py ROWS COLS SCRIPT -- COMMAND...
SCRIPT is a JSON list of steps: ["send", text] | ["wait", seconds] | ["resize", rows, cols]
| ["expect", text, seconds]. Prints the transcript, then "EXIT <code>" on the last line.
"""
import fcntl, json, os, pty, select, signal, struct, sys, termios, time

rows, cols, script = int(sys.argv[1]), int(sys.argv[2]), json.loads(sys.argv[3])
cmd = sys.argv[sys.argv.index("--") + 1:]
pid, fd = pty.fork()
if pid == 0:
    os.execvp(cmd[0], cmd)
fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
out = b""

def pump(seconds, until=None):
    global out
    end = time.time() + seconds
    while time.time() < end:
        if until is not None and until.encode() in out:
            return
        r, _, _ = select.select([fd], [], [], 0.02)
        if r:
            try:
                out += os.read(fd, 65536)
            except OSError:
                return

for step in script:
    if step[0] == "send":
        os.write(fd, step[1].encode())
    elif step[0] == "wait":
        pump(step[1])
    elif step[0] == "expect":
        pump(step[2], step[1])
    elif step[0] == "resize":
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", step[1], step[2], 0, 0))
        os.kill(pid, signal.SIGWINCH)

deadline = time.time() + 15
while time.time() < deadline:
    done, st = os.waitpid(pid, os.WNOHANG)
    if done:
        break
    pump(0.05)
else:
    os.kill(pid, signal.SIGKILL)
    done, st = os.waitpid(pid, 0)
pump(0.1)
sys.stdout.write(out.decode(errors="replace"))
print("\nEXIT", os.waitstatus_to_exitcode(st))
