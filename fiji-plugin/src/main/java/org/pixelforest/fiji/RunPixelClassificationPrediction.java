package org.pixelforest.fiji;

import ij.ImagePlus;
import ij.WindowManager;

/**
 * Plugins > Pixel Forest > Run Pixel Classification Prediction: ilastik4ij's command of that name,
 * with its macro keys, run by pixelforest without ilastik. {@code projectfilename}: an ilastik
 * project (.ilp) with a trained forest (its own forest is applied to pixelforest's features, as
 * ilastik computes them) or a pixelforest classifier (.pfc); {@code inputimage}: the title of an
 * open image (ilastik4ij's Import HDF5 titles them {@code /path/file.h5/data}), the current image
 * when left out; {@code pixelclassificationtype}: {@code Probabilities} (32-bit, one channel per
 * class) or {@code Segmentation} (8-bit, class 1..K); {@code saveonly} is accepted and ignored.
 */
public class RunPixelClassificationPrediction extends PixelForestCommand {

	static final String[] TYPES = { "Probabilities", "Segmentation" };

	@Override
	protected void execute(String arg) throws Exception {
		ImagePlus current = WindowManager.getCurrentImage();
		Params p = new Params("Pixel Forest: Run Pixel Classification Prediction");
		p.file("projectfilename", "");
		p.message("a trained ilastik project (.ilp) or a Pixel Forest classifier (.pfc)");
		p.string("inputimage", current == null ? "" : current.getTitle());
		p.choice("pixelclassificationtype", TYPES, TYPES[0]);
		p.help("<html><h2>Run Pixel Classification Prediction</h2>ilastik4ij's command, without ilastik: applies a trained "
			+ "ilastik project (.ilp, its own forest on the same filters as ilastik) or a Pixel Forest classifier (.pfc) to "
			+ "an open image. Probabilities: one channel per class; Segmentation: the most likely class of each pixel.</html>");
		if (!p.show()) return;
		String project = p.nextString().trim(), input = p.nextString().trim(), type = p.nextChoice();
		if (project.isEmpty()) throw new IllegalArgumentException("Run Pixel Classification Prediction needs projectfilename=[/path/project.ilp]");
		ImagePlus imp = input.isEmpty() ? currentImage() : WindowManager.getImage(input);
		if (imp == null) throw new IllegalArgumentException("There is no open image titled \"" + input + "\" (inputimage).");
		if (!type.equals(TYPES[0]) && !type.equals(TYPES[1]))
			throw new IllegalArgumentException("pixelclassificationtype must be Probabilities or Segmentation, not " + type);
		ImagePlus result = ApplyClassifier.apply(imp, project, type.equals(TYPES[0]) ? "Probabilities" : "Simple Segmentation");
		show(result);
	}
}
