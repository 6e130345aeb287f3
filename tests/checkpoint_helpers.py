"""What the checkpoint tests share: a stock-mmdet-style checkpoint, a loopback file server, and
the publishing tool's function (the tool is a script, as mmdet's publish_model.py)."""
import functools
import http.server
import runpy
import threading
from contextlib import contextmanager
from pathlib import Path

import torch
from mmengine.logging import HistoryBuffer

publish_checkpoint = runpy.run_path(str(
    Path(__file__).resolve().parents[1] / 'tools' / 'model_converters' / 'publish_model.py'))[
        'publish_checkpoint']


def save_stock_mmdet_checkpoint(path, state_dict=None):
    """Like a checkpoint stock mmdet writes on torch >= 2.6: its log buffers pickle a method,
    which takes ``builtins.getattr`` to unpickle."""
    torch.save(dict(state_dict={'w': torch.ones(2)} if state_dict is None else state_dict,
                    message_hub=dict(methods={'mean': HistoryBuffer.mean})), path)


@contextmanager
def serving(folder):
    """An http server on 127.0.0.1 serving ``folder``; yields its base URL; closed after."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f'http://127.0.0.1:{server.server_address[1]}'
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
