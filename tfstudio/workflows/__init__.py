"""Workflows built on the facade: the demo and the watch pipeline.

They sit above `tfstudio.studio` and use it as any front end does; the facade
never imports them.
"""
