import json
import random

import pytest

from mmdet_cgd.annotation_checks.json_keys import JsonStructureError, top_level, top_level_value

# chunk sizes that cut strings, escapes and brackets at every possible place
CHUNKS = (1, 2, 3, 7, 64, 1 << 20)
TRICKY = ['', 'a"b', 'a\\', '\\"', '{', '}[', ']', ':', 'é', '\\\\"', 'images']


def random_value(rng, depth):
    if depth > 3 or rng.random() < 0.3:
        return rng.choice([1, -2.5e3, None, True, rng.choice(TRICKY)])
    if rng.random() < 0.5:
        return {rng.choice(TRICKY) + str(i): random_value(rng, depth + 1)
                for i in range(rng.randint(0, 3))}
    return [random_value(rng, depth + 1) for _ in range(rng.randint(0, 3))]


def write(tmp_path, text, name='a.json'):
    path = tmp_path / name
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


@pytest.mark.parametrize('seed', range(40))
def test_keys_match_the_json_parser_at_any_chunk_size(tmp_path, seed):
    rng = random.Random(seed)
    obj = {rng.choice(TRICKY) + str(i): random_value(rng, 1) for i in range(rng.randint(0, 5))}
    text = json.dumps(obj, ensure_ascii=seed % 2 == 0, indent=None if seed % 3 else 2)
    path = write(tmp_path, '\r\n ' + text + '\n')
    for chunk in CHUNKS:
        found = top_level(path, chunk_bytes=chunk)
        assert found.kind == 'object' and found.keys == list(obj), chunk
    assert {k: top_level_value(path, k, found) for k in obj} == obj


def test_nested_keys_string_values_and_escaped_names(tmp_path):
    # "images" nested, as a value, inside a string, and spelled with an escape at the top
    text = ('{"info": {"images": []}, "x": "images", "y": ["\\"images\\": ["], '
            '"\\u0069mages": [], "annotations": [], "categories": []}')
    for chunk in CHUNKS:
        assert top_level(write(tmp_path, text), chunk).keys == [
            'info', 'x', 'y', 'images', 'annotations', 'categories']


def test_top_level_array(tmp_path):
    assert top_level(write(tmp_path, '[{"images": 1}, "a"]')).kind == 'array'


@pytest.mark.parametrize('text,message', [
    ('', 'empty'),
    (' \n', 'empty'),
    ('images: 1', "expected '{' or '\\[' first, got b'images: 1'"),
    (b'\xef\xbb\xbf{"images": []}', "expected '{' or '\\[' first"),  # pycocotools rejects a BOM
    ('{"images": [1, 2]', r'1 bracket\(s\) still open at the end of the file'),
    ('{"images": "x}', 'a string is not terminated'),
    ('{"a\\": 1}', 'a string is not terminated'),
    ('{"images": []}}', 'a closing bracket at byte 14 has no opening one'),
    ('{"images": []} {}', 'extra data after the top-level value, at byte 15'),
])
def test_what_cannot_be_json_is_named_with_its_place(tmp_path, text, message):
    for chunk in CHUNKS:
        with pytest.raises(JsonStructureError, match=message):
            top_level(write(tmp_path, text), chunk)


def test_long_whitespace_runs_before_the_value_and_before_a_colon(tmp_path):
    text = ' ' * 5000 + '{"images"' + '\n' * 5000 + ': [], "annotations": [], "categories": []}'
    for chunk in (7, 1 << 20):
        assert top_level(write(tmp_path, text), chunk).keys == ['images', 'annotations',
                                                               'categories']


def test_a_key_with_a_bad_escape_is_named(tmp_path):
    with pytest.raises(JsonStructureError, match='the key at byte 1 is not a JSON string'):
        top_level(write(tmp_path, '{"a\\x": 1}'))


def test_a_top_level_value_is_read_alone(tmp_path):
    text = ('{"images": [{"id": 1}], "categories" :\n [{"id": 1, "name": "a,}"}] ,\n'
            ' "annotations": [], "last": {"x": [1]}}\n')
    path = write(tmp_path, text)
    assert top_level_value(path, 'categories') == [{'id': 1, 'name': 'a,}'}]
    assert top_level_value(path, 'last') == {'x': [1]}
    assert top_level_value(path, 'missing') is None
