"""The facade: `Studio` and the parts it offers (training, images, engines, logs, overview).

`from tfstudio.studio import Studio` is how both front ends reach the core.
"""

from tfstudio.studio.facade import Studio

__all__ = ["Studio"]
