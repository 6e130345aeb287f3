"""The benchmark's markdown tables and bar chart."""
from typing import Dict

import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402

MiB = 2**20
RATIOS = (('forward_s', 'forward'), ('forward_backward_s', 'forward+backward'),
          ('peak_bytes', 'train-step peak memory'))


def model_table(rows: Dict[str, dict], flops_label: str = 'GFLOPs/img') -> str:
    """One row per variant: absolute values and ratios to ``plain``."""
    plain = rows['plain']
    lines = [f'| variant | params | extra params | {flops_label} | forward | x plain | fwd+bwd | '
             'x plain | peak memory | x plain |', '|---|' + '---:|' * 9]
    for name, r in rows.items():
        lines.append(
            f"| {name} | {r['params'] / 1e6:.3f} M | {r['params'] - plain['params']:+,} | "
            f"{r['flops'] / 1e9:.3f} | {r['forward_s']:.3f} s | "
            f"{r['forward_s'] / plain['forward_s']:.3f} | {r['forward_backward_s']:.3f} s | "
            f"{r['forward_backward_s'] / plain['forward_backward_s']:.3f} | "
            f"{r['peak_bytes'] / MiB:,.0f} MiB | {r['peak_bytes'] / plain['peak_bytes']:.3f} |")
    return '\n'.join(lines)


def bandwidth_table(t: Dict[str, float]) -> str:
    bound = t['bound: read + read/write']
    lines = ['| pass over the activation | median | x bound |', '|---|---:|---:|']
    lines += [f'| {name} | {sec * 1e3:.2f} ms | {sec / bound:.2f} |' for name, sec in t.items()]
    return '\n'.join(lines)


def bar_chart(results: Dict[str, Dict[str, dict]], out_path) -> None:
    """Per model, ratio to plain of each variant's forward, fwd+bwd and peak memory."""
    fig, axes = plt.subplots(1, len(results), figsize=(7 * len(results), 4.5), squeeze=False)
    for ax, (model, rows) in zip(axes[0], results.items()):
        names = [n for n in rows if n != 'plain']
        width = 0.8 / len(RATIOS)
        for i, (key, label) in enumerate(RATIOS):
            values = [rows[n][key] / rows['plain'][key] for n in names]
            bars = ax.bar([j + i * width for j in range(len(names))], values, width, label=label)
            ax.bar_label(bars, fmt='%.2f', fontsize=7, rotation=90, padding=2)
        ax.axhline(1.0, color='k', lw=0.8)
        ax.set_xticks([j + width for j in range(len(names))], names, rotation=20, ha='right',
                      fontsize=8)
        ax.set(title=f'{model}: cost relative to plain ResNet-50', ylabel='x plain')
        ax.set_ylim(0, max(2.0, ax.get_ylim()[1] * 1.1))
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out_path, dpi=100)
    plt.close(fig)
