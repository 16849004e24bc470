package org.pixelforest.fiji;

import ij.IJ;
import ij.ImagePlus;
import ij.gui.Roi;
import org.apposed.appose.NDArray;

import java.io.File;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.pixelforest.fiji.Protocol.Key;
import org.pixelforest.fiji.Protocol.Out;

/** Plugins > Pixel Forest > Train Classifier...: the current image + ROIs -> a saved, loaded classifier. */
public class TrainClassifier extends PixelForestCommand {

	@Override
	protected void execute(String arg) throws Exception {
		ImagePlus imp = currentImage();
		Params p = new Params("Pixel Forest: Train Classifier");
		p.choice("Labels from", new String[] { "ROI Manager", "Overlay" }, "ROI Manager");
		p.choice("Features", FEATURES, FEATURES[0]);
		p.file("Feature file", "");
		p.message("the filters the classifier sees: pixelforest-default (what works best on our tests), ilastik-default (ilastik's),\nminimal (fast), auto (the one that best predicts strokes of yours it did not learn from), or from a file\n(e.g. saved by Suggest Features)");
		p.string("Classes", "");
		p.message("class names in label order (optional; default: ROI groups, class:NAME names, colours)");
		p.number("Trees", 100);
		p.number("Seed", -1);
		p.number("Stages", 1);
		p.message("stages: 1 = one forest; 2 = auto-context (a second forest also sees the first one's probabilities)");
		p.file("Save classifier to", defaultPath(imp));
		p.help("<html><h2>Train Classifier</h2>Learns from your labels: ROIs drawn on the image (or in the ROI Manager), one "
			+ "class per ROI group (Edit > Selection > Properties... > Group), or named class:NAME, or in a colour of their own. "
			+ "A line with a width is a brush stroke. The classifier looks at each pixel through many filters (Features) and "
			+ "is saved as a .pfc file that Apply Classifier and Batch use. Live Training does the same while you paint. "
			+ "Seed: a number gives the same classifier every time; -1 a new one.</html>");
		if (!p.show()) return;
		String labels = p.nextChoice(), features = p.nextChoice(), file = p.nextString().trim(), classes = p.nextString();
		if (features.equals(FROM_FILE)) {
			if (file.isEmpty()) throw new IllegalArgumentException("Features from file: choose the feature file (.json)");
			features = file;
		}
		int trees = (int) p.nextNumber(), seed = (int) p.nextNumber(), stages = (int) p.nextNumber();
		String save = p.nextString().trim();
		if (trees < 1) throw new IllegalArgumentException("Trees must be at least 1");
		if (stages < 1 || stages > 4) throw new IllegalArgumentException("Stages must be 1 to 4 (2 = auto-context)");
		if (!save.isEmpty()) checkWritable(new File(save));
		Roi[] rois = RoiIndex.rois(imp, labels, classList(classes));
		RoiIndex index = RoiIndex.build(imp, rois);
		NDArray img = ImageBridge.toNDArray(imp);
		try {
			Map<String, Object> params = index.params();
			params.put(Key.CLASSES, classList(classes));
			params.put(Key.FEATURES, features);
			params.put(Key.TREES, trees);
			params.put(Key.STAGES, stages);
			if (seed >= 0) params.put(Key.SEED, seed);
			if (!save.isEmpty()) params.put(Key.OUTPUT, save);
			params.put(Key.TITLE, imp.getTitle());
			Map<String, Object> out = PythonService.call(Protocol.TRAIN, params, img, "training on " + imp.getTitle());
			String key = String.valueOf(out.get(Out.CLASSIFIER));
			rememberClassifier(key);
			Number oob = (Number) out.get(Out.OOB_ERROR);
			List<String> names = Protocol.strings(out.get(Out.CLASSES));
			if (out.get(Out.FEATURES_CHOICE) != null) IJ.log("Pixel Forest: " + out.get(Out.FEATURES_CHOICE));
			IJ.log("Pixel Forest: trained on " + imp.getTitle() + " from " + index.count + " ROIs: classes " + String.join(",", names)
				+ ", labelled pixels " + samples(names, (List<?>) out.get(Out.SAMPLES)) + ", " + out.get(Out.N_FEATURES)
				+ " features, OOB error " + (oob == null ? "n/a" : IJ.d2s(oob.doubleValue(), 4))
				+ (save.isEmpty() ? " (not saved)" : ", saved to " + save));
			IJ.showStatus("Pixel Forest: classifier trained (OOB error " + (oob == null ? "n/a" : IJ.d2s(oob.doubleValue(), 3)) + ")");
		}
		finally {
			img.close();
			index.index.close();
		}
	}

	/** The Classes field ("a, b, c") as a list of names (none: classes from the ROIs). */
	static List<String> classList(String text) {
		List<String> names = new ArrayList<>();
		for (String c : text.split(",")) if (!c.trim().isEmpty()) names.add(c.trim());
		return names;
	}

	/** Labelled pixels per class as the Log line shows them: {"name": count, ...} (Python's JSON text). */
	static String samples(List<String> names, List<?> counts) {
		StringBuilder sb = new StringBuilder("{");
		for (int i = 0; i < names.size(); i++) sb.append(i > 0 ? ", " : "").append(jsonString(names.get(i))).append(": ").append(counts.get(i));
		return sb.append('}').toString();
	}

	/** A string as Python's json.dumps writes it (non-ASCII escaped). */
	static String jsonString(String s) {
		StringBuilder sb = new StringBuilder("\"");
		for (char ch : s.toCharArray()) {
			switch (ch) {
				case '"': sb.append("\\\""); break;
				case '\\': sb.append("\\\\"); break;
				case '\n': sb.append("\\n"); break;
				case '\r': sb.append("\\r"); break;
				case '\t': sb.append("\\t"); break;
				case '\b': sb.append("\\b"); break;
				case '\f': sb.append("\\f"); break;
				default: sb.append(ch < 0x20 || ch > 0x7f ? String.format("\\u%04x", (int) ch) : String.valueOf(ch));
			}
		}
		return sb.append('"').toString();
	}

	static final String FROM_FILE = "from file...";
	/** "auto": the worker compares the presets by cross-validation on the ROIs, grouped by stroke, and keeps the best. */
	static final String[] FEATURES = { Options.DEFAULT_FEATURES, "ilastik-default", "minimal", "auto", FROM_FILE };

	/** Where a new classifier goes unless told: beside the image (its folder, else the home folder). */
	static String defaultPath(ImagePlus imp) { return beside(imp, ".pfc"); }

	/** A file's folder can be written (the nearest existing folder is asked): else an error, before any work. */
	static void checkWritable(File file) {
		File dir = file.getAbsoluteFile().getParentFile();
		while (dir != null && !dir.exists()) dir = dir.getParentFile();
		if (dir == null || !java.nio.file.Files.isWritable(dir.toPath()))
			throw new IllegalArgumentException("Cannot save to " + file + ": its folder is read-only. Choose another place.");
	}
}
