import ij.IJ;
import ij.ImageJ;
import ij.ImagePlus;
import ij.Menus;
import ij.Prefs;
import ij.WindowManager;
import ij.gui.GenericDialog;

import java.awt.Button;
import java.awt.Menu;
import java.awt.MenuBar;
import java.awt.MenuItem;
import java.awt.Rectangle;
import java.awt.Robot;
import java.awt.Toolkit;
import java.awt.Window;
import java.awt.event.ActionEvent;
import java.awt.event.ActionListener;
import java.io.File;
import javax.imageio.ImageIO;

/**
 * GUI smoke test (run under Xvfb): ImageJ with the plugin, Plugins > Pixel Forest in the menu bar,
 * Apply Classifier... clicked from the menu, its dialog confirmed, the result window checked, and a
 * screenshot saved. Arguments: IMAGE CLASSIFIER SCREENSHOT.png
 */
public class GuiSmoke {
	public static void main(String[] args) throws Exception {
		new ImageJ();
		ImagePlus imp = IJ.openImage(args[0]);
		imp.show();
		Prefs.set("pixelforest.classifier", args[1]);
		MenuBar bar = Menus.getMenuBar();
		MenuItem item = null;
		for (int i = 0; i < bar.getMenuCount(); i++) {
			Menu m = bar.getMenu(i);
			if (!m.getLabel().equals("Plugins")) continue;
			for (int j = 0; j < m.getItemCount(); j++) {
				if (m.getItem(j) instanceof Menu && m.getItem(j).getLabel().equals("Pixel Forest")) {
					Menu pf = (Menu) m.getItem(j);
					StringBuilder items = new StringBuilder();
					for (int k = 0; k < pf.getItemCount(); k++) {
						items.append(pf.getItem(k).getLabel()).append('|');
						if (pf.getItem(k).getLabel().equals("Apply Classifier...")) item = pf.getItem(k);
					}
					System.out.println("MENU Plugins>Pixel Forest: " + items);
				}
			}
		}
		if (item == null) { System.out.println("MENU not found"); System.exit(2); }
		// a click on the menu item: its listeners get the action event
		for (ActionListener l : item.getActionListeners())
			l.actionPerformed(new ActionEvent(item, ActionEvent.ACTION_PERFORMED, item.getActionCommand()));
		GenericDialog dialog = null;
		for (int i = 0; i < 200 && dialog == null; i++) {
			Thread.sleep(100);
			for (Window w : Window.getWindows())
				if (w instanceof GenericDialog && w.isVisible() && ((GenericDialog) w).getTitle().startsWith("Pixel Forest")) dialog = (GenericDialog) w;
		}
		if (dialog == null) { System.out.println("DIALOG not shown"); System.exit(3); }
		System.out.println("DIALOG " + dialog.getTitle());
		Thread.sleep(500);
		Button ok = dialog.getButtons()[0];
		dialog.actionPerformed(new ActionEvent(ok, ActionEvent.ACTION_PERFORMED, ok.getLabel()));
		ImagePlus result = null;
		for (int i = 0; i < 600 && result == null; i++) {
			Thread.sleep(100);
			result = WindowManager.getImage("blobs_Probabilities");
		}
		if (result == null) { System.out.println("RESULT missing"); System.exit(4); }
		Thread.sleep(1500);
		Rectangle screen = new Rectangle(Toolkit.getDefaultToolkit().getScreenSize());
		ImageIO.write(new Robot().createScreenCapture(screen), "png", new File(args[2]));
		System.out.println("RESULT " + result.getTitle() + " channels=" + result.getNChannels() + " visible=" + (result.getWindow() != null && result.getWindow().isVisible()));
		System.exit(0);
	}
}
