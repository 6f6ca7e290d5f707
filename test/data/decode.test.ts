// Decoding: colour modes (PIL's luma for grayscale), odd source formats, EXIF orientation.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { cmykToRgb, decodeImageFile, isCmykJpegWithoutProfile, lumaOf } from '../../src/data/decode.js';

let dir: string;
const W = 6;
const H = 4;
// Left half black, right half white: orientation is then easy to see.
const halves = Buffer.alloc(W * H * 3);
for (let r = 0; r < H; r++) for (let c = W / 2; c < W; c++) halves.fill(255, (r * W + c) * 3, (r * W + c) * 3 + 3);

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tlkit-decode-'));
  const base = () => sharp(halves, { raw: { width: W, height: H, channels: 3 } });
  await base().toColourspace('b-w').png().toFile(join(dir, 'gray.png'));
  await base().ensureAlpha(0.5).png().toFile(join(dir, 'rgba.png'));
  await base().png({ palette: true }).toFile(join(dir, 'palette.png'));
  await base().toColourspace('rgb16').png().toFile(join(dir, 'rgb16.png'));
  await base().toColourspace('cmyk').jpeg().toFile(join(dir, 'cmyk.jpg'));
  await base().tiff().toFile(join(dir, 'plain.tif'));
  await base().jpeg({ quality: 100 }).withMetadata({ orientation: 6 }).toFile(join(dir, 'exif6.jpg'));
});

after(() => rmSync(dir, { recursive: true, force: true }));

test('grayscale, RGBA, palette, 16-bit, CMYK and TIFF sources convert to every colour mode', async () => {
  const files = ['gray.png', 'rgba.png', 'palette.png', 'rgb16.png', 'cmyk.jpg', 'plain.tif'];
  for (const f of files) {
    for (const [mode, channels] of [['grayscale', 1], ['rgb', 3], ['rgba', 4]] as const) {
      const img = await decodeImageFile(join(dir, f), { colorMode: mode, targetSize: [H, W] });
      assert.equal(img.channels, channels, `${f} ${mode}`);
      assert.equal(img.data.length, H * W * channels);
      // The black left column and white right column survive every conversion (CMYK round trips loosely).
      const left = img.data[0];
      const right = img.data[(W - 1) * channels];
      assert.ok(left < 40 && right > 215, `${f} ${mode}: left ${left}, right ${right}`);
    }
  }
  const src = (await decodeImageFile(join(dir, 'rgb16.png'), { inspect: true })).source!;
  assert.equal(src.depth, 'ushort');
  assert.equal((await decodeImageFile(join(dir, 'cmyk.jpg'), { inspect: true })).source!.space, 'cmyk');
  assert.equal((await decodeImageFile(join(dir, 'palette.png'), { inspect: true })).source!.palette, true);
  const rgba = await decodeImageFile(join(dir, 'rgba.png'), { colorMode: 'rgba' });
  assert.ok(Math.abs(rgba.data[3] - 128) <= 1, `alpha kept: ${rgba.data[3]}`);
});

test('grayscale equals PIL convert("L") (Keras color_mode="grayscale")', async () => {
  const ref = JSON.parse(readFileSync(new URL('../fixtures/data/reference.json', import.meta.url), 'utf8'));
  const [h, w] = ref.luma.shape;
  await sharp(Buffer.from(ref.luma.rgb), { raw: { width: w, height: h, channels: 3 } }).png().toFile(join(dir, 'luma.png'));
  const img = await decodeImageFile(join(dir, 'luma.png'), { colorMode: 'grayscale', targetSize: null });
  assert.deepEqual([...img.data], ref.luma.l);
});

test('a CMYK JPEG without a profile decodes as PIL decodes it (Keras load_img), in every colour mode, on both paths', async () => {
  const ref = JSON.parse(readFileSync(new URL('../fixtures/data/reference.json', import.meta.url), 'utf8')).cmykJpeg as { mode: string; shape: [number, number]; rgb: number[] };
  assert.equal(ref.mode, 'CMYK');
  const path = new URL('../fixtures/data/cmyk_pil.jpg', import.meta.url).pathname;
  assert.equal(isCmykJpegWithoutProfile(readFileSync(path)), true);
  const [h, w] = ref.shape;
  for (const inspect of [false, true]) {
    const rgb = await decodeImageFile(path, { colorMode: 'rgb', inspect });
    assert.deepEqual([rgb.height, rgb.width, rgb.channels], [h, w, 3]);
    // Both sides run libjpeg-turbo's integer IDCT; allow one level for a different build.
    const worst = Math.max(...[...rgb.data].map((v, i) => Math.abs(v - ref.rgb[i])));
    assert.ok(worst <= 1, `largest difference from PIL ${worst} (inspect ${inspect})`);
    const rgba = await decodeImageFile(path, { colorMode: 'rgba', inspect });
    assert.equal(rgba.channels, 4);
    assert.ok([...rgba.data].every((v, i) => (i % 4 === 3 ? v === 255 : Math.abs(v - rgb.data[(i >> 2) * 3 + (i % 4)]) === 0)));
    const grey = await decodeImageFile(path, { colorMode: 'grayscale', inspect });
    assert.deepEqual([...grey.data], [...lumaOf(rgb.data, h * w, 3)]);
  }
  // sharp's own CMYK JPEG (libvips converts through a print profile, and embeds it) is not one.
  assert.equal(isCmykJpegWithoutProfile(readFileSync(join(dir, 'cmyk.jpg'))), (await sharp(join(dir, 'cmyk.jpg')).metadata()).icc === undefined);
  assert.equal(isCmykJpegWithoutProfile(readFileSync(join(dir, 'exif6.jpg'))), false, 'a YCbCr JPEG');
  assert.deepEqual([...cmykToRgb(Uint8Array.from([10, 20, 30, 40, 255, 0, 0, 0]), 2)], [205, 195, 185, 0, 255, 255]);
});

test('EXIF orientation is applied (autoOrient) and can be turned off', async () => {
  const upright = await decodeImageFile(join(dir, 'exif6.jpg'), { targetSize: null, inspect: true });
  assert.equal(upright.source!.orientation, 6);
  assert.deepEqual([upright.width, upright.height], [H, W]);
  // Orientation 6 = rotate 90° clockwise to display: the black left half ends on top.
  assert.ok(upright.data[0] < 40, `top-left ${upright.data[0]}`);
  assert.ok(upright.data[(W - 1) * H * 3] > 215, `bottom-left ${upright.data[(W - 1) * H * 3]}`);
  const raw = await decodeImageFile(join(dir, 'exif6.jpg'), { targetSize: null, autoOrient: false });
  assert.deepEqual([raw.width, raw.height], [W, H]);
});

test('keepAspectRatio centre-crops to the target aspect before resizing', async () => {
  // 6x4 (w x h) to 4x4: the crop keeps the middle 4 columns (black, black, white, white).
  const sq = await decodeImageFile(join(dir, 'plain.tif'), { targetSize: [4, 4], keepAspectRatio: true });
  assert.deepEqual([sq.width, sq.height], [4, 4]);
  assert.deepEqual([sq.data[0], sq.data[3], sq.data[6], sq.data[9]], [0, 0, 255, 255]);
  // Without it the whole width is squeezed in: the first column is still black, the last white.
  const stretched = await decodeImageFile(join(dir, 'plain.tif'), { targetSize: [4, 4] });
  assert.ok(stretched.data[0] < 5 && stretched.data[9] > 250, `stretched: ${stretched.data[0]}, ${stretched.data[9]}`);
});

test('BMP (24-bit, 8-bit palette and grey, 1-bit, 32-bit) and PPM/PGM decode as PIL decodes them', async () => {
  const ref = JSON.parse(readFileSync(new URL('../fixtures/data/reference.json', import.meta.url), 'utf8'));
  for (const [name, expected] of Object.entries(ref.legacy) as [string, { mode: string; shape: [number, number]; rgb: number[] }][]) {
    const path = new URL(`../fixtures/data/legacy/${name}`, import.meta.url).pathname;
    // On this thread, and on the decode thread a server uses (legacyOffThread): the same pixels.
    for (const legacyOffThread of [false, true]) {
      const img = await decodeImageFile(path, { targetSize: null, colorMode: 'rgb', legacyOffThread });
      assert.deepEqual([img.height, img.width], expected.shape, name);
      assert.deepEqual([...img.data], expected.rgb, `${name} (PIL mode ${expected.mode}, legacyOffThread ${legacyOffThread})`);
      assert.ok(['bmp', 'ppm'].includes(img.source!.format));
    }
  }
});

test('BMP and PPM/PGM: a header claiming more pixels than the limit, or than the bytes can hold, is refused before decoding', async () => {
  const { decodeImageBuffer, DecodeFailure } = await import('../../src/data/decode.js');
  const cases: [string, Buffer, RegExp][] = [
    ['ascii-claim.pgm', Buffer.from('P2\n60000 60000\n255\n1 2 3\n', 'latin1'), /60000x60000 = 3600000000 pixels exceeds the pixel limit/],
    ['ascii-short.pgm', Buffer.from('P2\n100 100\n255\n1 2 3\n', 'latin1'), /truncated PPM\/PGM pixel data/],
    ['binary-claim.ppm', Buffer.concat([Buffer.from('P6\n50000 50000\n255\n', 'latin1'), Buffer.alloc(64)]), /50000x50000 = 2500000000 pixels exceeds/],
  ];
  for (const [name, bytes, reason] of cases) {
    for (const legacyOffThread of [false, true]) {
      await assert.rejects(decodeImageBuffer(bytes, name, { legacyOffThread }), (e: unknown) => e instanceof DecodeFailure && reason.test(e.reason), `${name} legacyOffThread ${legacyOffThread}`);
    }
  }
});

test("resize with interpolation 'nearest' picks PIL's pixels (Keras's load_img), with and without keepAspectRatio", async () => {
  const ref = JSON.parse(readFileSync(new URL('../fixtures/data/reference.json', import.meta.url), 'utf8'));
  const [h, w] = ref.nearestResize.shape;
  const path = join(dir, 'nearest.png');
  await sharp(Buffer.from(ref.nearestResize.rgb), { raw: { width: w, height: h, channels: 3 } }).png().toFile(path);
  for (const c of ref.nearestResize.cases) {
    const out = await decodeImageFile(path, { targetSize: c.target, keepAspectRatio: c.keepAspectRatio, interpolation: 'nearest' });
    assert.deepEqual([out.height, out.width], c.target);
    assert.deepEqual([...out.data], c.rgb, `${c.target} keepAspectRatio=${c.keepAspectRatio}`);
  }
});
