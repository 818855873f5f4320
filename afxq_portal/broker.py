"""The embedded broker: kombu's filesystem transport, made safe for several processes at once.

kombu writes a message straight under its final name, so a worker polling the folder can take a file
that is still being written, fail to decode it ("Unrecoverable error: JSONDecodeError") and exit. It
also moves a taken file to the system temporary folder, which on another file system is a copy that
two workers can make of the same file at once. Here:

- a message is written under a name outside the pattern readers look for (a leading dot, a ``.tmp``
  end), flushed, and renamed into place (``os.replace``, atomic on one file system): a reader sees the
  whole file or nothing;
- a reader claims a file by renaming it, in the same folder, to a name no reader matches, so exactly
  one reader wins and the others skip it;
- a file that still does not decode (written by an older version, or cut short by a full disk) is
  logged, set aside as ``*.corrupt`` in the processed folder and skipped: it never stops the worker.

Selected by settings (CELERY_BROKER_TRANSPORT) whenever CELERY_BROKER_URL is ``filesystem://``.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
import uuid
from queue import Empty
from typing import Any

from kombu.exceptions import ChannelError
from kombu.transport import filesystem
from kombu.utils.encoding import bytes_to_str, str_to_bytes
from kombu.utils.json import dumps, loads

log = logging.getLogger(__name__)

TEMPORARY_SUFFIX = ".tmp"


class Channel(filesystem.Channel):
    def _put(self, queue: str, payload: dict[str, Any], **kwargs: Any) -> None:
        # Zero-padded: names sort in the order they were written (readers take them sorted).
        name = f"{round(time.monotonic() * 1000):016d}_{uuid.uuid4()}.{queue}.msg"
        final = os.path.join(self.data_folder_out, name)
        # ".<name>.tmp": partition('.') of it never yields "<queue>.msg", so no reader matches it.
        temporary = os.path.join(self.data_folder_out, f".{name}{TEMPORARY_SUFFIX}")
        try:
            with open(temporary, "wb") as f:
                f.write(str_to_bytes(dumps(payload)))
                f.flush()
                os.fsync(f.fileno())
            os.replace(temporary, final)
        except OSError as exc:
            try:
                os.remove(temporary)
            except OSError:
                pass
            raise ChannelError(f"Cannot add file {final!r} to directory") from exc

    def _get(self, queue: str) -> dict[str, Any]:
        queue_find = f"{queue}.msg"
        for filename in sorted(os.listdir(self.data_folder_in)):
            if filename.partition(".")[2] != queue_find:
                continue
            # In the queue's own folder: a rename, never a copy across file systems.
            claimed = os.path.join(self.data_folder_in, f".{filename}.claimed-{uuid.uuid4().hex}")
            try:
                os.rename(os.path.join(self.data_folder_in, filename), claimed)
            except OSError:  # another reader took it first
                continue
            try:
                with open(claimed, "rb") as f:
                    payload = f.read()
            except OSError as exc:
                raise ChannelError(f"Cannot read file {claimed!r} from queue.") from exc
            try:
                message = loads(bytes_to_str(payload))
            except (ValueError, UnicodeDecodeError) as exc:
                corrupt = os.path.join(self.processed_folder, f"{filename}.corrupt")
                shutil.move(claimed, corrupt)
                log.error("broker: message file %s of queue %s does not decode (%s); set aside as %s",
                          filename, queue, exc, corrupt)
                continue
            if self.store_processed:
                shutil.move(claimed, os.path.join(self.processed_folder, filename))
            else:
                os.remove(claimed)
            return message
        raise Empty()


class Transport(filesystem.Transport):
    Channel = Channel

