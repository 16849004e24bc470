package org.pixelforest.fiji;

import ij.IJ;
import ij.ImagePlus;
import ij.gui.Roi;
import ij.io.FileInfo;
import org.apposed.appose.NDArray;

import java.io.File;
import java.util.Map;

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
		Roi[] rois = RoiIndex.rois(imp, labels);
		RoiIndex index = RoiIndex.build(imp, rois);
		NDArray img = ImageBridge.toNDArray(imp);
		try {
			Map<String, Object> params = index.params();
			params.put("classes", classes);
			params.put("features", features);
			params.put("trees", trees);
			params.put("stages", stages);
			if (seed >= 0) params.put("seed", seed);
			if (!save.isEmpty()) params.put("output", save);
			params.put("title", imp.getTitle());
			Map<String, Object> out = PythonService.call("train", params, img, "training on " + imp.getTitle());
			String key = String.valueOf(out.get("classifier"));
			rememberClassifier(key);
			double oob = ((Number) out.get("oob_error")).doubleValue();
			if (out.get("features_choice") != null) IJ.log("Pixel Forest: " + out.get("features_choice"));
			IJ.log("Pixel Forest: trained on " + imp.getTitle() + " from " + index.count + " ROIs: classes " + out.get("classes")
				+ ", labelled pixels " + out.get("samples") + ", " + out.get("n_features") + " features, OOB error "
				+ (oob < 0 ? "n/a" : IJ.d2s(oob, 4)) + (save.isEmpty() ? " (not saved)" : ", saved to " + save));
			IJ.showStatus("Pixel Forest: classifier trained (OOB error " + (oob < 0 ? "n/a" : IJ.d2s(oob, 3)) + ")");
		}
		finally {
			img.close();
			index.index.close();
		}
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
