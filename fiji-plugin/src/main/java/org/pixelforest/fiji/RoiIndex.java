package org.pixelforest.fiji;

import ij.ImagePlus;
import ij.gui.ImageRoi;
import ij.gui.Overlay;
import ij.IJ;
import ij.gui.Roi;
import ij.gui.TextRoi;
import ij.plugin.frame.RoiManager;
import ij.process.ImageProcessor;
import org.apposed.appose.NDArray;

import java.awt.Color;
import java.awt.Point;
import java.awt.Rectangle;
import java.nio.IntBuffer;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.pixelforest.fiji.Protocol.Key;

/**
 * ROIs rasterised with ImageJ's own masks into a (T, Z, Y, X) int32 index image
 * (1 + index of the last ROI covering a pixel), plus each ROI's name, group, kind and
 * colour. The Python side turns them into classes with the same rules as
 * everywhere: group, then a class:NAME name, then stroke colour.
 */
public final class RoiIndex {

	public final NDArray index;
	/** Each ROI's name, group, kind and colour ({@link Protocol.RoiKey}), in index order. */
	public final List<Map<String, Object>> rois;
	public final int count;

	private RoiIndex(NDArray index, List<Map<String, Object>> rois) {
		this.index = index;
		this.rois = rois;
		this.count = rois.size();
	}

	/** The worker's parameters for these ROIs: their index image, their name/group/colour and ImageJ's group names. */
	public Map<String, Object> params() {
		Map<String, Object> p = new HashMap<>();
		p.put(Key.ROI_INDEX, index);
		p.put(Key.ROIS, rois);
		p.put(Key.GROUP_NAMES, groupNames());
		return p;
	}

	/**
	 * The label ROIs of "ROI Manager" or "Overlay": those that carry a class (a group, a
	 * {@code class:NAME} name, or a stroke colour of their own). Text, images and Pixel Forest's own
	 * marks are never labels; what is left out is said in the Log.
	 */
	public static Roi[] rois(ImagePlus imp, String source) throws PythonService.PixelForestException {
		Roi[] all;
		String where;
		if (source.toLowerCase().startsWith("overlay")) {
			Overlay ov = imp.getOverlay();
			if (ov == null || ov.size() == 0) throw new PythonService.PixelForestException("The image \"" + imp.getTitle() + "\" has no Overlay ROIs.\nDraw ROIs and add them with Image > Overlay > Add Selection.");
			all = ov.toArray();
			where = "the Overlay of \"" + imp.getTitle() + "\"";
		}
		else {
			RoiManager rm = RoiManager.getInstance();
			if (rm == null || rm.getCount() == 0) throw new PythonService.PixelForestException("The ROI Manager is empty.\nDraw ROIs for at least two classes and add them (t); put each class in its own group\n(Edit > Selection > Properties... > Group) or name them class:NAME.");
			all = rm.getRoisAsArray();
			where = "the ROI Manager";
		}
		List<Roi> labels = new ArrayList<>();
		int text = 0, marks = 0, unclassed = 0;
		for (Roi roi : all) {
			if (roi instanceof TextRoi) text++;
			else if (!isLabel(roi)) marks++;
			else if (roi.getGroup() <= 0 && roi.getStrokeColor() == null && (roi.getName() == null || !roi.getName().startsWith("class:"))) unclassed++;
			else labels.add(roi);
		}
		if (text + marks + unclassed > 0) {
			List<String> parts = new ArrayList<>();
			if (text > 0) parts.add(text + " text");
			if (marks > 0) parts.add(marks + " image or mark" + (marks > 1 ? "s" : ""));
			if (unclassed > 0) parts.add(unclassed + " without a class (no group, no class: name, no colour of its own)");
			IJ.log("Pixel Forest: labels from " + where + ": " + labels.size() + " ROIs; left out " + String.join(", ", parts) + ".");
		}
		if (labels.isEmpty())
			throw new PythonService.PixelForestException(where.substring(0, 1).toUpperCase() + where.substring(1) + " holds no ROI with a class.\n"
				+ "Put each class in its own group (Edit > Selection > Properties... > Group), name ROIs class:NAME,\nor give each class a colour of its own.");
		return labels.toArray(new Roi[0]);
	}

	public static RoiIndex build(ImagePlus imp, Roi[] rois) {
		int w = imp.getWidth(), h = imp.getHeight();
		int c = imp.getNChannels(), z = imp.getNSlices(), t = imp.getNFrames();
		NDArray nd = new NDArray(NDArray.DType.INT32, new NDArray.Shape(NDArray.Shape.Order.C_ORDER, t, z, h, w));
		IntBuffer buf = ImageBridge.buffer(nd).asIntBuffer();
		List<Map<String, Object>> meta = new ArrayList<>();
		for (int i = 0; i < rois.length; i++) {
			Roi roi = rois[i];
			int value = i + 1;
			for (int[] tz : planes(roi, c, z, t)) {
				int base = (tz[0] * z + tz[1]) * w * h;
				paint(roi, w, h, p -> buf.put(base + p, value));
			}
			meta.add(describe(roi));
		}
		return new RoiIndex(nd, meta);
	}

	/** A ROI as the worker takes it: its name, group, kind and stroke colour (null: none of its own). */
	static Map<String, Object> describe(Roi roi) {
		Map<String, Object> m = new HashMap<>();
		Color col = roi.getStrokeColor();
		m.put(Protocol.RoiKey.NAME, roi.getName() == null ? "" : roi.getName());
		m.put(Protocol.RoiKey.GROUP, roi.getGroup());
		m.put(Protocol.RoiKey.KIND, roi.getType() == Roi.POINT ? "point" : roi.isLine() ? "line" : "area");
		m.put(Protocol.RoiKey.COLOR, col == null ? null : Protocol.rgb(col));
		return m;
	}

	/** Receives the pixels (y * width + x) a ROI covers. */
	public interface PixelSink { void set(int pixel); }

	/**
	 * ImageJ's pixels of a ROI on a w x h canvas, handed to {@code sink}: masks for areas, lines as
	 * strokes of their width, points as points. Only the ROI's bounds clipped to the canvas are
	 * visited, so the cost follows the ROI, not the image.
	 */
	static void paint(Roi roi, int w, int h, PixelSink sink) {
		if (roi.getType() == Roi.POINT) {
			for (Point p : roi.getContainedPoints())
				if (p.x >= 0 && p.x < w && p.y >= 0 && p.y < h) sink.set(p.y * w + p.x);
			return;
		}
		Roi area = roi.isLine() ? Roi.convertLineToArea(roi) : roi;
		if (area == null) return;
		Rectangle b = area.getBounds();
		int x0 = Math.max(0, b.x), x1 = Math.min(w, b.x + b.width), y0 = Math.max(0, b.y), y1 = Math.min(h, b.y + b.height);
		if (x0 >= x1 || y0 >= y1) return;
		ImageProcessor mk = area.getMask();
		for (int yy = y0; yy < y1; yy++)
			for (int xx = x0; xx < x1; xx++)
				if (mk == null || mk.get(xx - b.x, yy - b.y) != 0) sink.set(yy * w + xx);
	}

	/** Property set on overlay elements that are not labels (a prediction image, a "label here" mark). */
	public static final String NOT_A_LABEL = "pixelforest.mark";

	/** Whether an overlay element is a label: not an image and not one of our marks. */
	static boolean isLabel(Roi roi) {
		return !(roi instanceof ImageRoi) && roi.getProperty(NOT_A_LABEL) == null;
	}

	/** (t, z) planes a ROI labels: its hyperstack position, its stack slice, or all. */
	static List<int[]> planes(Roi roi, int c, int z, int t) {
		List<int[]> out = new ArrayList<>();
		int zs = -1, ts = -1;
		if (roi.hasHyperStackPosition()) {
			zs = roi.getZPosition() - 1;
			ts = roi.getTPosition() - 1;
		}
		else if (roi.getPosition() > 0) {
			int idx = roi.getPosition() - 1;
			zs = (idx / c) % z;
			ts = idx / (c * z);
		}
		for (int ti = 0; ti < t; ti++) for (int zi = 0; zi < z; zi++)
			if ((ts < 0 || ts == ti) && (zs < 0 || zs == zi)) out.add(new int[] { ti, zi });
		return out;
	}

	/** ImageJ's group names: {"1": "name", ...} (groups without a name left out). */
	static Map<String, String> groupNames() {
		String names = Roi.getGroupNames();
		Map<String, String> out = new HashMap<>();
		if (names != null) {
			String[] parts = names.split(",");
			for (int i = 0; i < parts.length; i++) if (!parts[i].trim().isEmpty()) out.put(String.valueOf(i + 1), parts[i].trim());
		}
		return out;
	}
}
