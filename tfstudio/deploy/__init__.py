"""Deploy: one device's steps (lock, preflight, push, install, gates, prune), the session
that survives a dropped link, and the fan-out over devices. Above fleet and measure."""
