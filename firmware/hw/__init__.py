# The board shell: buses, actuators, network, clock. What more than one of
# its modules needs lives here.


def close_quietly(sock):
    """Close a socket that may be broken already (None: nothing to close):
    a close that fails has nothing left to report."""
    if sock is not None:
        try:
            sock.close()
        except OSError:
            pass
