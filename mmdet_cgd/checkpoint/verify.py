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


def published_hash_prefix(path: str):
    """The sha256 prefix a published-looking file name carries, or None."""
    match = PUBLISHED_NAME.search(os.path.basename(path))
    return match.group(1) if match else None


def _check_records(path: str, size: int) -> None:
    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            try:
                with archive.open(info) as record:
                    while record.read(CHUNK):  # zipfile compares the CRC-32 at the end
                        pass
            except zipfile.BadZipFile as e:
                raise CheckpointCorruptError(
                    f'{path!r} ({size} bytes) is corrupted: record {info.filename!r} '
                    f'({info.file_size} bytes) does not match its stored CRC-32 ({e}); the file '
                    'changed after it was written: copy or download it again') from e


def _check_name_hash(path: str, prefix: str, size: int) -> None:
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for chunk in iter(lambda: f.read(CHUNK), b''):
            digest.update(chunk)
    if not digest.hexdigest().startswith(prefix):
        raise CheckpointCorruptError(
            f'{path!r} ({size} bytes) is corrupted: its name carries the sha256 prefix {prefix!r} '
            f'but its sha256 is {digest.hexdigest()[:16]}...; download or copy it again (if '
            f"'-{prefix}' in the name is not a hash, rename the file)")


def verify_checkpoint_file(path: str) -> None:
    """Raise ``CheckpointCorruptError`` naming ``path`` and what did not match: a zip record's
    CRC-32, or the sha256 prefix in a published file's name. Legacy (non-zip) ``torch.save``
    files have no CRCs: only their name's hash is checked."""
    size = os.path.getsize(path)
    if zipfile.is_zipfile(path):
        try:
            _check_records(path, size)
        except (zipfile.BadZipFile, EOFError, OSError) as e:
            if isinstance(e, CheckpointCorruptError):
                raise
            raise CheckpointError(
                f'{path!r} ({size} bytes) is not a readable PyTorch checkpoint: expected a '
                f'complete torch.save() file; it may be truncated or of another format ({e})'
            ) from e
    prefix = published_hash_prefix(path)
    if prefix is not None:
        _check_name_hash(path, prefix, size)
