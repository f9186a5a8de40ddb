"""tfstudio: take a TensorFlow model from training to a device in the field.

The top-level package is the headless core. It never imports textual, and it
imports tensorflow, docker and paramiko only inside the functions that need
them, so that `tfstudio --help` and the TUI's first frame stay fast.
"""

__version__ = "0.1.0"
