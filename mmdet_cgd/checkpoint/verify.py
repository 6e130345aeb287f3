"""Whether a checkpoint file's bytes are the ones that were written, before anything reads them.

``torch.load`` does not check the CRC-32 that PyTorch's zip format stores for every record: bytes
overwritten inside tensor data load as different weights without a word. Here every record is
read once through ``zipfile``, which checks each CRC-32; and a file named as published files are
(``NAME-<8 hex>.pth``: mmdet's model zoo, torchvision, ``publish_model.py``) must have a sha256
starting with those hex digits, as ``torch.hub``'s ``check_hash`` does.
"""
import hashlib
import os
import re
import zipfile

from mmdet_cgd.utils.errors import CheckpointError

# torch.hub's HASH_REGEX is '-([a-f0-9]*)\.'; published names carry exactly 8 digits
PUBLISHED_NAME = re.compile(r'-([0-9a-f]{8})\.pth$')
CHUNK = 1 << 22


class CheckpointCorruptError(CheckpointError):
    """A checkpoint whose bytes do not match what was written (a CRC-32 or its name's sha256)."""


def verify_checkpoint_file(path: str) -> None:
    """Raise ``CheckpointCorruptError`` naming ``path`` and what did not match: a zip record's
    CRC-32, or the sha256 prefix in a published file's name (legacy, non-zip ``torch.save``
    files have no CRCs: only their name's hash is checked)."""
    where = f'{path!r} ({os.path.getsize(path)} bytes)'
    if zipfile.is_zipfile(path):
        record = None
        try:
            with zipfile.ZipFile(path) as archive:
                for record in archive.infolist():
                    with archive.open(record) as data:
                        while data.read(CHUNK):  # zipfile compares the CRC-32 at the end
                            pass
        except zipfile.BadZipFile as e:
            if record is None or 'CRC' not in str(e):
                raise CheckpointError(f'{where} is not a readable PyTorch checkpoint: expected '
                                      f'a complete torch.save() file ({e})') from e
            raise CheckpointCorruptError(
                f'{where} is corrupted: record {record.filename!r} ({record.file_size} bytes) '
                f'does not match its stored CRC-32 ({e}); the file changed after it was '
                'written: copy or download it again') from e
        except (EOFError, OSError) as e:
            raise CheckpointError(f'{where} is not a readable PyTorch checkpoint: expected a '
                                  f'complete torch.save() file; it may be truncated ({e})') from e
    match = PUBLISHED_NAME.search(os.path.basename(path))
    if match:
        digest = hashlib.sha256()
        with open(path, 'rb') as f:
            for chunk in iter(lambda: f.read(CHUNK), b''):
                digest.update(chunk)
        if not digest.hexdigest().startswith(match.group(1)):
            raise CheckpointCorruptError(
                f'{where} is corrupted: its name carries the sha256 prefix {match.group(1)!r} '
                f'but its sha256 is {digest.hexdigest()[:16]}...; download or copy it again (if '
                f"'-{match.group(1)}' in the name is not a hash, rename the file)")
