"""The run's record: one JSON and one markdown table, rewritten after every step."""
import json
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import List, Optional

PASSED, FAILED, SKIPPED = 'passed', 'failed', 'skipped'


class Skip(Exception):
    """A step that does not apply here; its message says why."""


@dataclass
class StepResult:
    name: str
    expected: float  # seconds expected on the H200 (the step list's estimate)
    status: str
    seconds: float
    reason: str = ''  # why it failed or was skipped: one line
    summary: str = ''  # what it found: one line
    details: dict = field(default_factory=dict)  # numbers; 'markdown' is shown under the table


def first_error_line(text: str) -> str:
    """A compiler's first error (``... error: ...``), else the last non-empty line: a Python
    traceback ends with its exception."""
    for line in text.splitlines():
        if re.search(r'(^|\s|:)(fatal )?error(:| [A-Z]?\d)', line) and '-Werror' not in line:
            return line.strip()[:500]
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1][:500] if lines else '(no output)'


class Record:
    """``OUT/gpu_check.json`` and ``OUT/gpu_check.md``, rewritten whole after every step."""

    def __init__(self, out: Path, header: dict):
        self.out = Path(out)
        self.out.mkdir(parents=True, exist_ok=True)
        self.header = dict(header, started=time.strftime('%Y-%m-%d %H:%M:%S %Z'))
        self.steps: List[StepResult] = []

    def add(self, step: StepResult) -> None:
        self.steps.append(step)
        self.write()

    def update_header(self, **kwargs) -> None:
        self.header.update(kwargs)
        self.write()

    def write(self) -> None:
        data = dict(self.header, steps=[asdict(s) for s in self.steps])
        (self.out / 'gpu_check.json').write_text(json.dumps(data, indent=1, default=str))
        (self.out / 'gpu_check.md').write_text(self.markdown())

    def markdown(self) -> str:
        h = self.header
        lines = ['# GPU check', '',
                 f"Command: `{h.get('command', '')}`  ",
                 f"Machine: {h.get('machine', '?')}; Python {h.get('python', '?')}; "
                 f"torch {h.get('torch', '?')}.  ",
                 f"Started {h['started']}; {self.total():.0f} s in the steps so far.  ",
                 f"Detectors' NMS and RoIAlign: {h.get('detector_ops', 'not decided yet')}.", '',
                 '| # | step | status | seconds | expected (H200) | result or reason |',
                 '| --: | :-- | :-- | --: | --: | :-- |']
        for i, s in enumerate(self.steps, 1):
            text = s.reason if s.status != PASSED else s.summary
            text = text.replace('|', '\\|').replace('\n', ' ')
            lines.append(f'| {i} | {s.name} | {s.status} | {s.seconds:.1f} | {s.expected:.0f} | '
                         f'{text} |')
        for s in self.steps:
            if s.details.get('markdown'):
                lines += ['', f'## {s.name}', '', s.details['markdown'].rstrip()]
        return '\n'.join(lines) + '\n'

    def total(self) -> float:
        return sum(s.seconds for s in self.steps)

    def status(self, name: str) -> Optional[str]:
        return next((s.status for s in self.steps if s.name == name), None)
