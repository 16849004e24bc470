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
		p.string("Features", "pixelforest-default");
		p.message("pixelforest-default (smoothing + Hessian, sigma 0.5-16, top-hats, hole filling, normalised intensities), ilastik-default (exactly ilastik), minimal,\nor a feature .json file (e.g. from Suggest Features)");
		p.string("Classes", "");
		p.message("class names in label order (optional; default: ROI groups, class:NAME names, colours)");
		p.number("Trees", 100);
		p.number("Seed", -1);
		p.number("Stages", 1);
		p.message("stages: 1 = one forest; 2 = auto-context (a second forest also sees the first one's probabilities)");
		p.file("Save classifier to", defaultPath(imp));
		if (!p.show()) return;
		String labels = p.nextChoice(), features = p.nextString(), classes = p.nextString();
		int trees = (int) p.nextNumber(), seed = (int) p.nextNumber(), stages = (int) p.nextNumber();
		String save = p.nextString().trim();
		if (trees < 1) throw new IllegalArgumentException("Trees must be at least 1");
		if (stages < 1 || stages > 4) throw new IllegalArgumentException("Stages must be 1 to 4 (2 = auto-context)");
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

	static String defaultPath(ImagePlus imp) {
		String last = lastClassifier();
		if (!last.isEmpty()) return last;
		FileInfo fi = imp.getOriginalFileInfo();
		String dir = fi != null && fi.directory != null ? fi.directory : IJ.getDirectory("home");
		String name = imp.getTitle().replaceAll("\\.[^.]+$", "");
		return new File(dir, name + ".pfc").getPath();
	}
}
