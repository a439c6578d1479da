"""Small helpers shared by every layer: atomic file writes, progress bars, the torch device choice."""

from segscope.utils.device import resolve_device
from segscope.utils.files import atomic_path, write_bytes, write_json, write_text
from segscope.utils.progress import progress

__all__ = ["atomic_path", "write_bytes", "write_json", "write_text", "progress", "resolve_device"]
