#!/usr/bin/env python3
"""Builds the training pack for the embedded model from photographs shipped in Debian packages.

Python standard library plus Debian tools only (apt-get, dpkg-deb, ImageMagick's `convert`):
    apt-get install -y imagemagick        # once
    python3 tools/train/prepare.py        # writes data/photos/ (git-ignored)

Steps: download the packages (`apt-get download`), unpack them (`dpkg -x`), take the hand-picked
photographs below (each one looked at: real photographs only, no vector art or paintings), read each
one's licence from its package (the Debian copyright file, or the upstream metadata the package ships
beside the image), downscale to 512 px on the short side, and write
    data/photos/pack/train/NN-<class>.jpg     training photos, one class each (NN = class index)
    data/photos/pack/heldout/<name>.jpg       photos held out of training entirely, for evaluation
    data/photos/pack/manifest.json            every photo: package, version, path, licence, author, sizes
The expected licence of every photo is written below too; the script stops if the package says
something else, so a package update cannot silently change the terms.
"""

import argparse
import fnmatch
import glob
import json
import os
import re
import shutil
import subprocess
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
SHORT_SIDE = 512
JPEG_QUALITY = 95

PACKAGES = [
    'mate-backgrounds',
    'lomiri-wallpapers-16.04',
    'lomiri-wallpapers-20.04',
    'plasma-workspace-wallpapers',
    'palapeli-data',
    'python3-skimage',
]

MATE = 'usr/share/backgrounds/mate/nature/'
LOMIRI = 'usr/share/backgrounds/'
PLASMA = 'usr/share/wallpapers/'
PALAPELI = 'usr/share/palapeli/collection/'
SKIMAGE = 'usr/lib/python3/dist-packages/skimage/data/'

# (package, file in package, class name, scene, expected licence, held out)
# The licence strings are checked against what the package states (see read_licence).
PHOTOS = [
    ('mate-backgrounds', MATE + 'Aqua.jpg', 'water-drop', 'water', 'GPL-2+', False),
    ('mate-backgrounds', MATE + 'Blinds.jpg', 'green-leaf-blinds', 'plants', 'GPL-2+', False),
    ('mate-backgrounds', MATE + 'Dune.jpg', 'dune-grass', 'landscape', 'GPL-2+', False),
    ('mate-backgrounds', MATE + 'FreshFlower.jpg', 'orange-flower', 'flower', 'GPL-2+', False),
    ('mate-backgrounds', MATE + 'Garden.jpg', 'red-marigold', 'flower', 'GPL-2+', False),
    ('mate-backgrounds', MATE + 'GreenMeadow.jpg', 'green-meadow', 'plants', 'GPL-2+', False),
    ('mate-backgrounds', MATE + 'LadyBird.jpg', 'ladybird', 'animal', 'GPL-2+', False),
    ('mate-backgrounds', MATE + 'RainDrops.jpg', 'raindrops-on-leaf', 'plants', 'GPL-2+', False),
    ('mate-backgrounds', MATE + 'Storm.jpg', 'storm', 'landscape', 'GPL-2+', True),
    ('mate-backgrounds', MATE + 'TwoWings.jpg', 'dandelion-seeds', 'flower', 'GPL-2+', False),
    ('mate-backgrounds', MATE + 'Wood.jpg', 'wood-grain', 'texture', 'GPL-2+', False),
    ('mate-backgrounds', MATE + 'YellowFlower.jpg', 'yellow-flower', 'flower', 'GPL-2+', True),
    ('lomiri-wallpapers-16.04', LOMIRI + 'Bridge_by_Sander_Klootwijk.jpg', 'bridge-cables', 'city', 'CC-BY-SA-4.0', False),
    ('lomiri-wallpapers-16.04', LOMIRI + 'Dragonfly_by_Bolly.jpg', 'dragonfly-tree', 'plants', 'CC-BY-SA-4.0', False),
    ('lomiri-wallpapers-16.04', LOMIRI + 'Picture_0B_by_freespace.jpg', 'fig-on-red-bowl', 'object', 'CC-BY-4.0', False),
    ('lomiri-wallpapers-16.04', LOMIRI + 'Picture_1A_by_freespace.jpg', 'paint-brushes', 'object', 'CC-BY-4.0', False),
    ('lomiri-wallpapers-16.04', LOMIRI + 'Wine_by_Jakkub_Mede.jpg', 'wine-room', 'interior', 'CC-BY-4.0', False),
    ('lomiri-wallpapers-16.04', LOMIRI + 'aitzgorri_by_Aitzol_Berasategi.jpg', 'autumn-mountain', 'landscape', 'CC-BY-4.0', False),
    ('lomiri-wallpapers-16.04', LOMIRI + 'free_by_Peter_Nerlich.jpg', 'lamp-and-bird', 'interior', 'CC-BY-SA-4.0', False),
    ('lomiri-wallpapers-16.04', LOMIRI + 'friends_by_Aitzol_Berasategi.jpg', 'dogs-at-door', 'animal', 'CC-BY-4.0', False),
    ('lomiri-wallpapers-16.04', LOMIRI + 'greentock_by_Peter_Nerlich.jpg', 'wall-clock', 'object', 'CC-BY-SA-4.0', False),
    ('lomiri-wallpapers-16.04', LOMIRI + 'life_by_Aitzol_Berasategi.jpg', 'forest-stream', 'landscape', 'CC-BY-4.0', False),
    ('lomiri-wallpapers-16.04', LOMIRI + 'picosdeeuropa_by_Aitzol_Berasategi.jpg', 'mountain-path', 'landscape', 'CC-BY-4.0', True),
    ('lomiri-wallpapers-16.04', LOMIRI + 'seeding_by_Clements_Engelhardt.jpg', 'dandelion-field', 'flower', 'CC0-1.0', False),
    ('lomiri-wallpapers-16.04', LOMIRI + 'sunset_by_Aitzol_Berasategi.jpg', 'hill-sunset', 'landscape', 'CC-BY-4.0', False),
    ('lomiri-wallpapers-20.04', LOMIRI + 'Kleiber_by_Lukas_Baubkus.jpg', 'nuthatch', 'animal', 'CC-BY-SA-3.0', False),
    ('plasma-workspace-wallpapers', PLASMA + 'BytheWater/', 'wooden-pier', 'water', 'LGPLv3', False),
    ('plasma-workspace-wallpapers', PLASMA + 'ColdRipple/', 'foggy-jetty', 'water', 'LGPLv3', False),
    ('plasma-workspace-wallpapers', PLASMA + 'ColorfulCups/', 'colorful-cups', 'object', 'LGPLv3', False),
    ('plasma-workspace-wallpapers', PLASMA + 'DarkestHour/', 'blue-hour-lake', 'water', 'LGPLv3', False),
    ('plasma-workspace-wallpapers', PLASMA + 'EveningGlow/', 'rowing-boats', 'water', 'LGPLv3', False),
    ('plasma-workspace-wallpapers', PLASMA + 'FallenLeaf/', 'fallen-leaf', 'plants', 'LGPLv3', False),
    ('plasma-workspace-wallpapers', PLASMA + 'Grey/', 'facade-pattern', 'city', 'LGPLv3', False),
    ('plasma-workspace-wallpapers', PLASMA + 'Kite/', 'kite-in-sky', 'sky', 'LGPLv3', False),
    ('plasma-workspace-wallpapers', PLASMA + 'OneStandsOut/', 'fern-canopy', 'plants', 'LGPLv3', False),
    ('plasma-workspace-wallpapers', PLASMA + 'Path/', 'forest-path', 'landscape', 'LGPLv3', True),
    ('plasma-workspace-wallpapers', PLASMA + 'summer_1am/', 'twilight-lake', 'water', 'LGPLv3', False),
    ('palapeli-data', PALAPELI + 'cincinnati-bridge.jpg', 'bridge-at-night', 'city', 'Public Domain', False),
    ('palapeli-data', PALAPELI + 'citrus-fruits.jpg', 'citrus-slices', 'object', 'Public Domain', True),
    ('palapeli-data', PALAPELI + 'european-honey-bee.jpg', 'honey-bee', 'animal', 'Public Domain', False),
    ('python3-skimage', SKIMAGE + 'astronaut.png', 'astronaut', 'people', 'Public Domain', False),
    ('python3-skimage', SKIMAGE + 'chelsea.png', 'cat', 'animal', 'CC0', False),
    ('python3-skimage', SKIMAGE + 'coffee.png', 'coffee-cup', 'object', 'CC0', True),
    ('python3-skimage', SKIMAGE + 'rocket.jpg', 'rocket-launch', 'sky', 'Public Domain', False),
]


def run(cmd, **kw):
    print('+', ' '.join(cmd), file=sys.stderr)
    return subprocess.run(cmd, check=True, **kw)


def find_convert():
    """ImageMagick's convert (a stand-in of the same name may come first on PATH)."""
    for c in ['magick', 'convert', '/usr/bin/convert', '/usr/bin/convert-im6.q16']:
        path = shutil.which(c) or (c if os.path.exists(c) else None)
        if not path:
            continue
        r = subprocess.run([path, '-version'], capture_output=True, text=True)
        if 'ImageMagick' in r.stdout:
            return path
    sys.exit('ImageMagick is needed: apt-get install -y imagemagick')


def fetch(work):
    debs = os.path.join(work, 'debs')
    os.makedirs(debs, exist_ok=True)
    versions = {}
    for pkg in PACKAGES:
        have = glob.glob(os.path.join(debs, pkg + '_*.deb'))
        if not have:
            run(['apt-get', 'download', pkg], cwd=debs)
            have = glob.glob(os.path.join(debs, pkg + '_*.deb'))
        if len(have) != 1:
            sys.exit(f'expected one .deb for {pkg}, found {have}')
        deb = have[0]
        ver = subprocess.run(['dpkg-deb', '-f', deb, 'Version'], capture_output=True, text=True, check=True)
        versions[pkg] = ver.stdout.strip()
        dest = os.path.join(work, 'extract', pkg)
        if not os.path.isdir(dest):
            shutil.rmtree(dest + '.tmp', ignore_errors=True)
            os.makedirs(dest + '.tmp')
            run(['dpkg', '-x', deb, dest + '.tmp'])
            os.rename(dest + '.tmp', dest)
    return versions


def dep5_stanzas(text):
    """Files stanzas of a machine-readable Debian copyright file: list of (patterns, copyright, licence)."""
    out = []
    for para in re.split(r'\n\s*\n', text):
        fields, key = {}, None
        for line in para.split('\n'):
            m = re.match(r'^([A-Za-z-]+):\s*(.*)$', line)
            if m:
                key = m.group(1).lower()
                fields[key] = m.group(2).strip()
            elif key and line.startswith((' ', '\t')):
                fields[key] += '\n' + line.strip()
        if 'files' in fields and 'license' in fields:
            pats = fields['files'].split()
            lic = fields['license'].split('\n')[0].strip()
            out.append((pats, ' '.join(fields.get('copyright', '').split()), lic))
    return out


def dep5_lookup(copyright_path, rel_names):
    stanzas = dep5_stanzas(open(copyright_path, encoding='utf-8', errors='replace').read())
    match = None
    for pats, cr, lic in stanzas:  # the last matching stanza wins (DEP-5 rule)
        if any(fnmatch.fnmatch(n, p) for p in pats for n in rel_names):
            match = (cr, lic)
    if not match:
        sys.exit(f'{copyright_path}: no Files stanza covers {rel_names}')
    return match


def read_licence(root, pkg, rel):
    """(licence, author/copyright holder, where it was read) for one photo, as the package states it."""
    doc = os.path.join(root, 'usr/share/doc', pkg, 'copyright')
    base = os.path.basename(rel.rstrip('/'))
    if pkg == 'mate-backgrounds':
        cr, lic = dep5_lookup(doc, ['nature/' + base])
        return lic, cr, f'/usr/share/doc/{pkg}/copyright'
    if pkg.startswith('lomiri-wallpapers'):
        cr, lic = dep5_lookup(doc, ['16.04/' + base, '20.04/' + base])
        return lic, cr, f'/usr/share/doc/{pkg}/copyright'
    if pkg == 'plasma-workspace-wallpapers':
        deb_cr, deb_lic = dep5_lookup(doc, [base + '/contents/images/x.jpg'])
        meta_json = os.path.join(root, rel, 'metadata.json')
        if os.path.exists(meta_json):
            plugin = json.load(open(meta_json, encoding='utf-8'))['KPlugin']
            lic, author = plugin['License'], plugin['Authors'][0]['Name']
            src = f'/{rel}metadata.json'
        else:
            desk = open(os.path.join(root, rel, 'metadata.desktop'), encoding='utf-8').read()
            lic = re.search(r'^X-KDE-PluginInfo-License=(.*)$', desk, re.M).group(1).strip()
            author = re.search(r'^X-KDE-PluginInfo-Author=(.*)$', desk, re.M).group(1).strip()
            src = f'/{rel}metadata.desktop'
        note = f'upstream metadata: {lic}; Debian copyright file: {deb_lic} ({deb_cr})'
        return lic, author, f'{src}; /usr/share/doc/{pkg}/copyright ({note})'
    if pkg == 'palapeli-data':
        desk = open(os.path.join(root, rel[: -len('.jpg')] + '.desktop'), encoding='utf-8').read()
        lic = re.search(r'^X-KDE-PluginInfo-License=(.*)$', desk, re.M).group(1).strip()
        author = re.search(r'^X-KDE-PluginInfo-Author=(.*)$', desk, re.M).group(1).strip()
        site = re.search(r'^X-KDE-PluginInfo-Website=(.*)$', desk, re.M)
        where = f'/{rel[: -len(".jpg")]}.desktop' + (f' (source: {site.group(1).strip()})' if site else '')
        return lic, author, where
    if pkg == 'python3-skimage':
        src = open(os.path.join(root, SKIMAGE, '_fetchers.py'), encoding='utf-8').read()
        fn = os.path.splitext(base)[0]
        m = re.search(r'def ' + fn + r'\(.*?"""(.*?)"""', src, re.S)
        if not m:
            sys.exit(f'no docstring for skimage.data.{fn}')
        doc_text = ' '.join(m.group(1).split())
        if 'CC0' in doc_text:
            lic = 'CC0'
        elif 'public domain' in doc_text.lower():
            lic = 'Public Domain'
        else:
            sys.exit(f'skimage.data.{fn}: no licence statement found')
        who = re.search(r'CC0 by the photographer \(([^)]*)\)', doc_text)
        author = who.group(1) if who else ('NASA' if fn == 'astronaut' else 'SpaceX' if fn == 'rocket' else '?')
        return lic, author, f'docstring of skimage.data.{fn} in /{SKIMAGE}_fetchers.py'
    sys.exit(f'no licence reader for {pkg}')


def largest_plasma_image(root, rel):
    folder = os.path.join(root, rel, 'contents', 'images')
    best = None
    for name in os.listdir(folder):
        m = re.match(r'^(\d+)x(\d+)\.(jpg|png)$', name)
        if m:
            area = int(m.group(1)) * int(m.group(2))
            if best is None or area > best[0]:
                best = (area, name)
    return os.path.join(rel, 'contents', 'images', best[1])


def image_size(convert, path):
    r = subprocess.run([convert, path + '[0]', '-format', '%w %h', 'info:'], capture_output=True, text=True, check=True)
    w, h = r.stdout.split()[:2]
    return int(w), int(h)


def downscale(convert, src, dst):
    # Fill a SHORT_SIDE box ('^'), only ever shrinking ('>'); sRGB, no alpha, no metadata.
    run([convert, src + '[0]', '-auto-orient', '-colorspace', 'sRGB', '-alpha', 'off',
         '-filter', 'Lanczos', '-resize', f'{SHORT_SIDE}x{SHORT_SIDE}^>', '-strip',
         '-quality', str(JPEG_QUALITY), dst + '.tmp.jpg'])
    os.replace(dst + '.tmp.jpg', dst)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--work', default=os.path.join(ROOT, 'data', 'photos'), help='output folder (git-ignored)')
    args = ap.parse_args()
    convert = find_convert()
    work = args.work
    versions = fetch(work)
    pack = os.path.join(work, 'pack')
    if os.path.isdir(pack):
        shutil.rmtree(pack)
    os.makedirs(os.path.join(pack, 'train'))
    os.makedirs(os.path.join(pack, 'heldout'))
    names = [p[2] for p in PHOTOS]
    if len(set(names)) != len(names):
        sys.exit('class names must be unique')
    entries = []
    class_index = 1  # 0 is the null (unconditional) class
    for pkg, rel, name, scene, expected, held_out in PHOTOS:
        root = os.path.join(work, 'extract', pkg)
        lic, author, where = read_licence(root, pkg, rel)
        if lic != expected:
            sys.exit(f'{pkg} {rel}: package states licence "{lic}", expected "{expected}": review it')
        image_rel = largest_plasma_image(root, rel) if rel.endswith('/') else rel
        src = os.path.join(root, image_rel)
        w, h = image_size(convert, src)
        if held_out:
            out_rel = f'heldout/{name}.jpg'
            idx = None
        else:
            idx = class_index
            class_index += 1
            out_rel = f'train/{idx:02d}-{name}.jpg'
        downscale(convert, src, os.path.join(pack, out_rel))
        pw, ph = image_size(convert, os.path.join(pack, out_rel))
        entries.append({
            'name': name, 'class_index': idx, 'held_out': held_out, 'scene': scene,
            'package': pkg, 'package_version': versions[pkg], 'path_in_package': '/' + image_rel,
            'licence': lic, 'author': author, 'licence_source': where,
            'source_size': [w, h], 'pack_file': out_rel, 'pack_size': [pw, ph],
        })
        print(f'{out_rel:40s} {w}x{h} -> {pw}x{ph}  {lic}  ({pkg})')
    manifest = {
        'about': 'Photographs for the embedded Flux model, from Debian packages; written by tools/train/prepare.py',
        'short_side': SHORT_SIDE, 'jpeg_quality': JPEG_QUALITY, 'null_class': 0,
        'classes': ['null'] + [e['name'] for e in entries if not e['held_out']],
        'photos': entries,
    }
    with open(os.path.join(pack, 'manifest.json'), 'w', encoding='utf-8') as f:
        json.dump(manifest, f, indent=1, ensure_ascii=False)
    total = sum(os.path.getsize(os.path.join(dp, fn)) for dp, _, fns in os.walk(pack) for fn in fns)
    n_train = sum(1 for e in entries if not e['held_out'])
    print(f'pack: {n_train} training photos, {len(entries) - n_train} held out, {total / 2**20:.1f} MiB in {pack}')


if __name__ == '__main__':
    main()
