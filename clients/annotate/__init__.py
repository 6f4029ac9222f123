"""Evidence pictures: `annotate(video, result, out)` writes a PNG sheet or a GIF clip.

`clients.annotate.draw` is pure PIL; `clients.annotate.render` decodes the original
video through `service.video`, so importing `annotate` needs the service package.
"""

from clients.annotate.render import annotate, group_by_time

__all__ = ["annotate", "group_by_time"]
