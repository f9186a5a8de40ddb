"""The Transport interface (run, put, get) and its two implementations: `local` (a real
subprocess on this machine) and SSH (paramiko with OpenSSH's config and host keys).

Fleet, training (ssh:// engines), tunnel and measure reach a machine through it.
"""
