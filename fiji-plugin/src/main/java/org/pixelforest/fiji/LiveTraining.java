package org.pixelforest.fiji;

import ij.IJ;
import ij.ImagePlus;
import ij.macro.Interpreter;

import java.awt.GraphicsEnvironment;

/**
 * Plugins > Pixel Forest > Live Training...: a training panel bound to the current image. Paint
 * strokes of each class with ImageJ's tools; the prediction follows as an overlay on the image.
 * The panel is for people: in batch mode or headless the command says so and does nothing else
 * (Train Classifier... and Apply Classifier... do the same work from macros).
 */
public class LiveTraining extends PixelForestCommand {

	static final String FOR_PEOPLE = "Pixel Forest: Live Training opens a panel for painting and needs ImageJ's windows; "
		+ "in macros and batch mode use Train Classifier... and Apply Classifier... instead.";

	@Override
	protected void execute(String arg) throws Exception {
		if (Interpreter.isBatchMode() || GraphicsEnvironment.isHeadless()) {
			IJ.log(FOR_PEOPLE);
			return;
		}
		ImagePlus imp = currentImage();
		if (imp.getWindow() == null) throw new PythonService.PixelForestException("Live Training needs the image shown in a window.");
		LiveSession existing = LiveSession.forImage(imp);
		if (existing != null) {
			if (existing.panel != null) existing.panel.toFront();
			return;
		}
		LiveSession.open(imp);
	}
}
