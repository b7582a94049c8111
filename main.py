# Runs after boot.py on the board (and in tools/host_run.py on the host).
import firmware.app
firmware.app.run()
