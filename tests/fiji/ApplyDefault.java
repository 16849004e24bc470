import ij.IJ;
import ij.ImageJ;
import ij.ImagePlus;
import ij.Prefs;
import ij.gui.GenericDialog;

import java.awt.Button;
import java.awt.Label;
import java.awt.TextField;
import java.awt.Window;

/**
 * Apply Classifier's dialog as a user meets it (under Xvfb): the last classifier is offered only
 * when it fits the current image, else the field is empty and the dialog says why; every dialog
 * of the plugin has a Help button. Arguments: IMAGE LAST_CLASSIFIER
 */
public class ApplyDefault {
	public static void main(String[] args) throws Exception {
		new ImageJ();
		ImagePlus imp = IJ.openImage(args[0]);
		imp.show();
		Prefs.set("pixelforest.classifier", args[1]);
		new Thread(() -> IJ.doCommand("Apply Classifier...")).start();
		GenericDialog dialog = null;
		for (int i = 0; i < 600 && dialog == null; i++) {
			Thread.sleep(100);
			for (Window w : Window.getWindows())
				if (w instanceof GenericDialog && w.isVisible() && ((GenericDialog) w).getTitle().startsWith("Pixel Forest")) dialog = (GenericDialog) w;
		}
		if (dialog == null) { System.out.println("DIALOG not shown"); System.exit(3); }
		Thread.sleep(300);
		TextField field = (TextField) dialog.getStringFields().get(0);
		System.out.println("FIELD [" + field.getText() + "]");
		for (java.awt.Component c : dialog.getComponents()) collect(c);
		for (Button b : dialog.getButtons()) if (b != null) System.out.println("BUTTON " + b.getLabel());
		dialog.dispose();
		System.exit(0);
	}

	static void collect(java.awt.Component c) {
		if (c instanceof Label) System.out.println("LABEL " + ((Label) c).getText());
		if (c instanceof java.awt.Container) for (java.awt.Component k : ((java.awt.Container) c).getComponents()) collect(k);
	}
}
