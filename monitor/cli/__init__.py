"""The ``nms-monitor`` command line (the shell: argument parsing, files, streams)."""
